"""The FastAPI application: heavy state is loaded in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from corkboard.settings import get_settings
from models.pixie import warm_up
from service.routes import health, recommendations, utility_weights
from service.state import NotReadyError, ServingState, open_serving_state

log = logging.getLogger("corkboard.service")
GRAPH_RELOAD_SECONDS = 30.0


async def _reload_graph_forever(state: ServingState) -> None:
    """Pick up a newly materialized pin-board graph without a restart."""
    while True:
        await asyncio.sleep(GRAPH_RELOAD_SECONDS)
        try:
            if state.graph.reload_if_changed():
                log.info("pin-board graph reloaded: version %s", state.graph.version)
        except OSError as error:
            log.warning("pin-board graph reload failed, keeping the current one: %s", error)


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body, with NaN and infinite inputs echoed as text (JSON cannot encode them)."""
    as_text = {float: lambda value: value if math.isfinite(value) else str(value)}
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(error.errors(), custom_encoder=as_text)})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.serving = None
    app.state.not_ready_reason = "starting"
    reloader = None
    try:
        app.state.serving = open_serving_state(get_settings())
        warm_up()  # compile the Pixie kernel now, not on the first request
        reloader = asyncio.create_task(_reload_graph_forever(app.state.serving))
    except NotReadyError as error:
        app.state.not_ready_reason = str(error)
        log.warning("service not ready: %s", error)
    yield
    if reloader is not None:
        reloader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reloader


def create_app() -> FastAPI:
    """The corkboard API (docs at /docs)."""
    app = FastAPI(title="corkboard", version="0.1.0", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(utility_weights.router)
    return app
