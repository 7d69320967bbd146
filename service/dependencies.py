"""FastAPI dependencies as Annotated aliases, overridable in tests."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from core.settings import DEFAULT_API_KEY, Settings, get_settings
from service.serving_state import ServingState

SettingsDep = Annotated[Settings, Depends(get_settings)]

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key in CORKBOARD_API_KEY.")


def get_serving_state(request: Request) -> ServingState:
    """The state the lifespan loaded; 503 while it is missing."""
    state = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status_code=503, detail=request.app.state.not_ready_reason)
    return state


def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)]) -> None:
    """401 unless the request carries the configured admin key; 403 while that is the default."""
    if key is None:
        raise HTTPException(
            status_code=401,
            detail="missing X-API-Key header: admin routes need the admin key",
        )
    expected = settings.api_key.get_secret_value()
    if expected == DEFAULT_API_KEY:
        raise HTTPException(
            status_code=403,
            detail=f"admin routes are off while CORKBOARD_API_KEY is the default {DEFAULT_API_KEY!r}: set a key of your own",
        )
    # Bytes, because compare_digest refuses non-ASCII str; constant time, so timing leaks nothing.
    if not hmac.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="wrong X-API-Key")


ServingStateDep = Annotated[ServingState, Depends(get_serving_state)]
AdminDep = Annotated[None, Depends(require_api_key)]
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or wrong X-API-Key."},
    403: {"description": "CORKBOARD_API_KEY is still the default: admin routes are off."},
}
