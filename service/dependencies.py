"""FastAPI dependencies as Annotated aliases, overridable in tests."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from corkboard.settings import Settings, get_settings
from service.state import ServingState

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_serving_state(request: Request) -> ServingState:
    """The state the lifespan loaded; 503 while it is missing."""
    state = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status_code=503, detail=request.app.state.not_ready_reason)
    return state


ServingStateDep = Annotated[ServingState, Depends(get_serving_state)]
