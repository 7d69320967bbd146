"""The FastAPI application: heavy state is loaded in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import State
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from threadpoolctl import threadpool_limits

from core.settings import get_settings
from models.pixie import warm_up
from service.database_guard import DatabaseUnavailable, describe
from service.dependencies import sees_details
from service.documented_auth import document_open_reads
from service.logging import RequestLogMiddleware, configure_request_log, configure_service_log
from service.method_not_allowed import method_not_allowed
from service.metrics import install_metrics
from service.page_log import PageLog
from service.rate_limit import TokenBuckets
from service.reload_signal import follow_reloads
from service.routes import admin, events, health, recommendations, utility_weights
from service.state_loading import LOAD_ERRORS, ModelFileError
from service.state_reload import reload_serving_state

log = logging.getLogger("corkboard.service")
RANKER_THREADS = 1
NOT_READY_RETRY_SECONDS = 5.0
PAGE_LOG_DRAIN_S = 10.0  # at shutdown, how long the page log may take to write what is queued
ECHOED_INPUT = 100  # characters of a text input that a 422 answer repeats


async def _load_until_ready(app: FastAPI) -> None:
    """Retry loading while the service is not ready: it becomes ready by itself once the
    database answers or a materialization finished."""
    while app.state.serving is None:
        await asyncio.sleep(NOT_READY_RETRY_SECONDS)
        try:
            await run_in_threadpool(reload_serving_state, app.state, get_settings())
        except LOAD_ERRORS as error:
            _mark_not_ready(app.state, error)
        else:
            await run_in_threadpool(warm_up)
            log.info("service ready: %s", app.state.serving.model_versions)


def _mark_not_ready(holder: State, error: Exception) -> None:
    """Why nothing serves: ``not_ready_detail`` in full (for admin callers and the log),
    ``not_ready_reason`` without the database driver's message (hosts, addresses) for anyone."""
    if isinstance(error, SQLAlchemyError | DatabaseUnavailable):
        holder.not_ready_reason = "database unreachable"
        holder.not_ready_detail = f"database unreachable: {_database_reason(error)}"
    else:
        holder.not_ready_reason = holder.not_ready_detail = str(error)


def _database_reason(error: Exception) -> str:
    return describe(error) if isinstance(error, SQLAlchemyError) else str(error)


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body, with NaN and infinite inputs echoed as text (JSON cannot encode them)
    and long text inputs cut to ECHOED_INPUT characters (a caller's input is not sent back whole)."""
    as_text = {float: lambda value: value if math.isfinite(value) else str(value)}
    problems = [
        {**problem, "input": _cut(problem["input"])} if "input" in problem else problem for problem in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(problems, custom_encoder=as_text)})


def _cut(value: object) -> object:
    if isinstance(value, str | bytes) and len(value) > ECHOED_INPUT:
        return value[:ECHOED_INPUT]
    return value


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 for a route without a fallback of its own, naming the database problem to admin callers."""
    detail = f"database unavailable: {_database_reason(error)}" if sees_details(request) else "database unavailable"
    return JSONResponse(status_code=503, content={"detail": detail})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # A request's ranker batch (~1,000 x 100) is too small for BLAS threads to pay; they spin
    # against the other requests' threads instead (docs/performance.md: 8x slower under load).
    threadpool_limits(limits=RANKER_THREADS, user_api="blas")
    app.state.serving = None
    app.state.announced_stamps = set()  # service/reload_signal.py
    app.state.not_ready_reason = app.state.not_ready_detail = "starting"
    try:
        reload_serving_state(app.state, get_settings())
        warm_up()  # compile the Pixie kernel now, not on the first request
    except ModelFileError as error:
        log.error("refusing to start: %s", error)
        raise
    except LOAD_ERRORS as error:
        _mark_not_ready(app.state, error)
        log.warning("service not ready: %s", app.state.not_ready_detail)
    background = [asyncio.create_task(_load_until_ready(app)), asyncio.create_task(follow_reloads(app))]
    yield
    for task in background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Pages answered before the stop keep their impressions: the writer gets a bounded time to drain.
    if not await asyncio.to_thread(app.state.page_log.flush, PAGE_LOG_DRAIN_S):
        log.warning("stopping with impressions of served pages not yet logged (%s s passed)", PAGE_LOG_DRAIN_S)


def create_app() -> FastAPI:
    """The corkboard API (docs at /docs and /redoc, their scripts and styles served by the app)."""
    # Bodies over the limit are refused with 413: by their Content-Length before any byte is
    # read, or once the bytes streamed so far pass it.
    app = FastAPIOffline(
        title="corkboard", version="0.1.0", lifespan=lifespan, max_body_size=get_settings().max_body_bytes
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(405, method_not_allowed)
    for error in (DatabaseUnavailable, OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(error, database_unavailable)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(utility_weights.router)
    app.include_router(admin.router)
    app.include_router(events.router)
    document_open_reads(app)
    app.state.event_buckets = TokenBuckets()  # POST /v1/events: one bucket per API key
    app.state.page_log = PageLog()  # the served pages' impressions, written after their answers
    configure_request_log()
    configure_service_log()
    # Added before the metrics middleware, so it runs inside it and sees the request's trace.
    app.add_middleware(RequestLogMiddleware)
    install_metrics(app)
    return app
