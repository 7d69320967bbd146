"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    """Ready only when models, index and features are loaded."""
    state = getattr(request.app.state, "serving", None)
    if state is None:
        body = Readiness(ready=False, detail=request.app.state.not_ready_reason)
        return JSONResponse(body.model_dump(), status_code=503)
    body = Readiness(ready=True, detail="models, index and features loaded", model_versions=state.model_versions)
    return JSONResponse(body.model_dump())
