"""The FastAPI application: heavy state is loaded in the lifespan, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from corkboard.settings import get_settings
from service.pipeline import NotReadyError
from service.routes import health, recommendations
from service.state import open_serving_state

log = logging.getLogger("corkboard.service")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.serving = None
    app.state.not_ready_reason = "starting"
    try:
        app.state.serving = open_serving_state(get_settings())
    except NotReadyError as error:
        app.state.not_ready_reason = str(error)
        log.warning("service not ready: %s", error)
    yield


def create_app() -> FastAPI:
    """The corkboard API (docs at /docs)."""
    app = FastAPI(title="corkboard", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    return app
