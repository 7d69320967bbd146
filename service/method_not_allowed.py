"""405 answers whose ``Allow`` names every method of the path, not only the first route's."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import compile_path


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route (included routers' too) whose path matches the request's, sorted."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.path and compile_path(route.path)[0].match(request.url.path):
            methods |= route.methods
    return sorted(methods)


async def method_not_allowed(request: Request, error: HTTPException) -> Response:
    """FastAPI's 405 answer, with ``Allow`` naming the methods of every route of the path:
    Starlette names those of the first route it tried, so a path served by two routes
    (``GET`` and ``PUT /v1/utility-weights``) was said to allow only one of them."""
    headers = {**(error.headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return await http_exception_handler(request, HTTPException(error.status_code, error.detail, headers))
