"""Structured request logs: one JSON line per HTTP request on the ``corkboard.requests`` logger.

Each line holds the route template, method, status, latency in ms, the user (path or query),
the page's fallback and degraded sources (from the request's pipeline trace) and a request id,
taken from the ``X-Request-ID`` header or made up, and echoed in the response.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.stages import current_trace

REQUEST_LOG = logging.getLogger("corkboard.requests")
SERVICE_LOG = logging.getLogger("corkboard.service")
REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID = 128  # a client's id is echoed and logged: keep it short


def configure_request_log() -> None:
    """Write request lines, bare, to stderr (once per process), apart from other loggers' format."""
    if not REQUEST_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        REQUEST_LOG.addHandler(handler)
        REQUEST_LOG.setLevel(logging.INFO)
        REQUEST_LOG.propagate = False


def configure_service_log() -> None:
    """Write the service's own events (ready, reloads, failing steps) from INFO up to stderr, once
    per process; without a handler Python would drop all but warnings."""
    if not SERVICE_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        SERVICE_LOG.addHandler(handler)
        SERVICE_LOG.setLevel(logging.INFO)


class RequestLogMiddleware:
    """Logs every HTTP request as one JSON line, including those that fail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id  # the page log reads it (request.state)
        status = 500  # unless the app starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (REQUEST_ID_HEADER, request_id.encode()),
                    ],
                }
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_LOG.info(json.dumps(_fields(scope, status, time.perf_counter() - start, request_id)))


def _fields(scope: Scope, status: int, seconds: float, request_id: str) -> dict[str, object]:
    trace = current_trace()
    route = getattr(scope.get("route"), "path", None)
    user = (
        scope.get("path_params", {}).get("user_id")
        or parse_qs(scope.get("query_string", b"").decode()).get("user_id", [None])[0]
    )
    return {
        "event": "request",
        "request_id": request_id,
        "method": scope["method"],
        "route": route,
        "path": scope["path"] if route is None else None,  # unmatched paths only: templates keep lines groupable
        "status": status,
        "latency_ms": round(seconds * 1000, 2),
        "user": user,
        "fallback": trace.fallback if trace else None,
        "degraded_sources": list(trace.degraded_sources) if trace else [],
    }


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            given = value.decode("latin-1")[:MAX_REQUEST_ID]
            if given.isprintable() and given.strip():
                return given
    return uuid.uuid4().hex
