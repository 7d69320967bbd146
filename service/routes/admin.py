"""Operator actions behind a key with the admin scope: swap in freshly loaded models without a restart."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from service.dependencies import AUTH_RESPONSES, AdminDep, KeyCheckedFirst, SettingsDep
from service.reload_signal import announce_reload
from service.state_loading import LOAD_ERRORS
from service.state_reload import reload_serving_state

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=KeyCheckedFirst)


class ReloadPublic(BaseModel):
    model_versions: dict[str, int] = Field(description="The versions now serving.")
    previous_versions: dict[str, int] = Field(description="The versions served before (none when not ready).")


@router.post(
    "/reload",
    response_model=ReloadPublic,
    responses={
        **AUTH_RESPONSES,
        409: {"description": "Loading failed; the previous versions keep serving."},
    },
)
def reload_models(_: AdminDep, request: Request, settings: SettingsDep) -> ReloadPublic:
    """Load the active model versions, index and pin features afresh and swap them in at once.

    On any failure (a corrupt or mismatched model file, nothing materialized, the database
    unreachable) the versions being served stay, and the answer says why. Under several server
    processes (``corkboard serve --workers``) the others load the active versions within a second."""
    previous = request.app.state.serving
    kept = previous.model_versions if previous is not None else {}
    try:
        fresh = reload_serving_state(request.app.state, settings)
    except LOAD_ERRORS as error:
        raise HTTPException(
            status_code=409,
            detail=f"reload failed, still serving {kept or 'nothing'}: {error}",
        ) from error
    announce_reload(request.app.state)  # the server's other workers, if any, follow within a second
    return ReloadPublic(model_versions=fresh.model_versions, previous_versions=kept)
