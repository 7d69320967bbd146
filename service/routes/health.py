"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.dependencies import sees_details
from service.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. On the event loop, never in the worker threads, so it answers while
    every one of them waits on a stalled database."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    """Ready (200) when models, index and features are loaded: the service can serve, and pages
    answer, degraded, while the database is away. ``checks.database`` says whether it answers now
    (as does the metric ``corkboard_database_up``). 503 naming the reason while nothing is loaded.
    The database driver's messages (hosts, addresses) are shown to admin keys only."""
    details = sees_details(request)
    state = getattr(request.app.state, "serving", None)
    if state is None:
        reason = request.app.state.not_ready_detail if details else request.app.state.not_ready_reason
        body = Readiness(ready=False, detail=reason, checks={"models": reason})
        return JSONResponse(body.model_dump(), status_code=503)
    problem = state.database.problem()
    database = "ok" if problem is None else problem if details else "unreachable"
    body = Readiness(
        ready=True,
        detail="models, index and features loaded" + ("" if problem is None else f"; database {database}"),
        model_versions=state.model_versions,
        checks={"models": "loaded", "database": database},
    )
    return JSONResponse(body.model_dump())
