"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. On the event loop, never in the worker threads, so it answers while
    every one of them waits on a stalled database."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    """Ready when models, index and features are loaded and the database answers; otherwise
    503 naming what is wrong. Pages still answer, degraded, while the database is away."""
    state = getattr(request.app.state, "serving", None)
    if state is None:
        reason = request.app.state.not_ready_reason
        body = Readiness(ready=False, detail=reason, checks={"models": reason})
        return JSONResponse(body.model_dump(), status_code=503)
    problem = state.database.problem()
    checks = {"models": "loaded", "database": problem or "ok"}
    if problem:
        body = Readiness(
            ready=False,
            detail=f"database {problem}",
            model_versions=state.model_versions,
            checks=checks,
        )
        return JSONResponse(body.model_dump(), status_code=503)
    body = Readiness(
        ready=True,
        detail="models, index and features loaded",
        model_versions=state.model_versions,
        checks=checks,
    )
    return JSONResponse(body.model_dump())
