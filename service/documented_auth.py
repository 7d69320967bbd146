"""The OpenAPI document names the key the running service demands: where pages are open to
callers without one (``Settings.open_reads``: one machine, or a trusted gateway in front), the
read routes' X-API-Key is optional in the document too (an empty security alternative), so a
client, or a contract test, expects what the service does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from core.api_keys import Scope
from service.dependencies import RequireScope, app_settings


def read_operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(path, method) of every documented operation that asks for the read scope."""
    for route in iter_route_contexts(app.router.routes):
        original = route.original_route
        if not (isinstance(original, APIRoute) and original.include_in_schema):
            continue
        if any(
            isinstance(dependency.call, RequireScope) and dependency.call.scope is Scope.READ
            for dependency in original.dependant.dependencies
        ):
            yield from ((route.path_format, method.lower()) for method in route.methods)


def document_open_reads(app: FastAPI) -> None:
    """Make ``app.openapi`` mark the read operations' key optional while the settings open reads."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            if app_settings(app).open_reads:
                for path, method in read_operations(app):
                    schema["paths"][path][method]["security"].append({})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
