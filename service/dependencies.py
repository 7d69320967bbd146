"""FastAPI dependencies as Annotated aliases, overridable in tests.

Those that only read the app's state are ``async``: FastAPI runs a plain ``def`` dependency on a
worker thread, a hand-off that costs a page more than the read itself."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from core.api_keys import ApiKey, Scope, find_key
from core.settings import Settings, get_settings
from service.serving_state import ServingState

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A key of CORKBOARD_API_KEYS (corkboard api-key new)."
)
KeyHeader = Annotated[str | None, Security(api_key_header)]


def app_settings(app: FastAPI) -> Settings:
    """The settings ``app``'s routes see (``get_settings``, or what a test put in its place)."""
    return app.dependency_overrides.get(get_settings, get_settings)()


def request_settings(request: Request) -> Settings:
    """The settings the request's routes see."""
    return app_settings(request.app)


async def settings_of_request(request: Request) -> Settings:
    """``request_settings`` as a dependency (a test overrides ``get_settings``, which it reads)."""
    return request_settings(request)


SettingsDep = Annotated[Settings, Depends(settings_of_request)]


def caller_of(request: Request) -> ApiKey | None:
    """The configured key the request carries; None without one or for a key not configured."""
    presented = request.headers.get(api_key_header.model.name)
    return None if presented is None else find_key(request_settings(request).api_keys, presented)


def sees_details(request: Request) -> bool:
    """Whether the caller may read the driver's messages (hosts, addresses): an admin key."""
    caller = caller_of(request)
    return caller is not None and Scope.ADMIN in caller.scopes


async def get_serving_state(request: Request) -> ServingState:
    """The state the lifespan loaded; 503 while it is missing."""
    state = getattr(request.app.state, "serving", None)
    if state is None:
        details = sees_details(request)
        raise HTTPException(
            status_code=503,
            detail=request.app.state.not_ready_detail if details else request.app.state.not_ready_reason,
        )
    return state


class RequireScope:
    """A dependency that lets a request through only with a key holding ``scope``, or, for
    ``read``, without a key where the settings open reads (a trusted gateway, or one machine)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, settings: SettingsDep, presented: KeyHeader) -> ApiKey | None:
        """The caller's key (None for an open read); 401 without a valid key, 403 without the scope."""
        return self.check(settings, presented)

    def check(self, settings: Settings, presented: str | None) -> ApiKey | None:
        """``__call__``'s answer, for a caller outside FastAPI's dependency injection."""
        if self.scope is Scope.ADMIN and not any(Scope.ADMIN in key.scopes for key in settings.api_keys):
            raise HTTPException(
                status_code=403,
                detail="admin routes are off: no key of CORKBOARD_API_KEYS has the admin scope "
                "(corkboard api-key new --scopes admin)",
            )
        if presented is None:
            if self.scope is Scope.READ and settings.open_reads:
                return None
            raise HTTPException(
                status_code=401, detail=f"missing X-API-Key header: this route needs the {self.scope} scope"
            )
        caller = find_key(settings.api_keys, presented)
        if caller is None:
            raise HTTPException(status_code=401, detail="wrong X-API-Key: no configured key")
        if self.scope not in caller.scopes:
            raise HTTPException(status_code=403, detail=f"key {caller.name!r} lacks the {self.scope} scope")
        return caller


class KeyCheckedFirst(APIRoute):
    """A route whose scope is checked before FastAPI reads and validates its body (dependencies,
    the scope check among them, run only after that), so a caller without a valid key costs no
    reading or parsing. The dependency runs again afterwards, which also documents the route's
    security in the OpenAPI schema."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        requirements = [
            dependency.call for dependency in self.dependant.dependencies if isinstance(dependency.call, RequireScope)
        ]

        async def checked_first(request: Request) -> Response:
            for requirement in requirements:
                requirement.check(request_settings(request), request.headers.get(api_key_header.model.name))
            return await handle(request)

        return checked_first


ServingStateDep = Annotated[ServingState, Depends(get_serving_state)]
ReadDep = Annotated[ApiKey | None, Depends(RequireScope(Scope.READ))]
EventsDep = Annotated[ApiKey, Depends(RequireScope(Scope.EVENTS))]
AdminDep = Annotated[ApiKey | None, Depends(RequireScope(Scope.ADMIN))]
AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or wrong X-API-Key."},
    403: {"description": "The key lacks the route's scope, or no key has the admin scope (admin routes off)."},
}
