"""Prometheus metrics of the service, served at ``GET /metrics``.

Request latency per route, seconds per pipeline stage, candidates ranked per request, fallbacks
and degraded sources, the serving model versions and whether the database answers. Each app has
its own registry, so several apps in one process (tests) never share counts; several server
processes share one folder of counts instead (service/server.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.server import METRICS_FOLDER_ENV
from service.stages import RequestTrace, traced

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
STAGE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
)
# 499 makes the share of pages under 500 candidates (the target) exact.
CANDIDATE_BUCKETS = (50, 100, 200, 300, 400, 499, 750, 1000, 1500, 2000, 3000, 5000)
UNMATCHED_ROUTE = "unmatched"  # one label for every unknown path, so scanners cannot grow the label set


@dataclass(frozen=True)
class ServiceMetrics:
    """The app's registry and the metrics the middleware and pipeline traces feed."""

    registry: CollectorRegistry
    request_seconds: Histogram
    stage_seconds: Histogram
    candidates: Histogram
    fallbacks: Counter
    degraded_sources: Counter

    @classmethod
    def create(cls, app: FastAPI) -> ServiceMetrics:
        registry = CollectorRegistry()
        registry.register(_ServingGauges(app))
        return cls(
            registry=registry,
            request_seconds=Histogram(
                "corkboard_request_seconds",
                "Request latency by route template and status code.",
                ["route", "method", "status"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            stage_seconds=Histogram(
                "corkboard_stage_seconds",
                "Seconds spent per pipeline stage of a page request.",
                ["surface", "stage"],
                buckets=STAGE_BUCKETS,
                registry=registry,
            ),
            candidates=Histogram(
                "corkboard_candidates",
                "Candidates ranked per page request.",
                ["surface"],
                buckets=CANDIDATE_BUCKETS,
                registry=registry,
            ),
            fallbacks=Counter(
                "corkboard_fallbacks",
                "Pages served from a fallback (cold_start, no_candidates).",
                ["surface", "fallback"],
                registry=registry,
            ),
            degraded_sources=Counter(
                "corkboard_degraded_sources",
                "Candidate sources skipped after a failure or timeout.",
                ["surface", "source"],
                registry=registry,
            ),
        )

    def observe(self, trace: RequestTrace) -> None:
        """Record what a page request's trace says; a request that served no page adds nothing."""
        if trace.surface is None:
            return
        for name, seconds in trace.seconds.items():
            self.stage_seconds.labels(trace.surface, name).observe(seconds)
        if trace.candidates is not None:
            self.candidates.labels(trace.surface).observe(trace.candidates)
        if trace.fallback is not None:
            self.fallbacks.labels(trace.surface, trace.fallback).inc()
        for source in trace.degraded_sources:
            self.degraded_sources.labels(trace.surface, source).inc()


class _ServingGauges(Collector):
    """The serving model versions and the database's health, read from the app's state at scrape
    time (the guard's last outcome: a scrape never waits on the database)."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        versions = GaugeMetricFamily(
            "corkboard_model_version", "Version of each serving model.", labels=["kind"]
        )
        database_up = GaugeMetricFamily(
            "corkboard_database_up",
            "1 while the database answers the request path, 0 from a failure until it answers again.",
        )
        state = getattr(self._app.state, "serving", None)
        if state is not None:
            for kind, version in state.model_versions.items():
                versions.add_metric([kind], version)
            database_up.add_metric([], 1 if state.database.healthy() else 0)
        yield versions
        yield database_up


class MetricsMiddleware:
    """Times every HTTP request and opens the pipeline trace that its stages write to."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app starts a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        with traced() as trace:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
                self.metrics.request_seconds.labels(
                    route, scope["method"], str(status)
                ).observe(time.perf_counter() - start)
                self.metrics.observe(trace)


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Every metric of this app in the Prometheus text format."""
    return Response(generate_latest(_scraped(request.app)), media_type=CONTENT_TYPE_LATEST)


def _scraped(app: FastAPI) -> CollectorRegistry:
    """The app's registry; under several server processes (service/server.py), every process's
    counts and histograms summed, with the serving gauges of the process that answers."""
    if METRICS_FOLDER_ENV not in os.environ:
        return app.state.metrics.registry
    summed = CollectorRegistry()
    MultiProcessCollector(summed)
    summed.register(_ServingGauges(app))
    return summed


def install_metrics(app: FastAPI) -> None:
    """Time the app's requests and serve its metrics at ``/metrics``."""
    app.state.metrics = ServiceMetrics.create(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(router)
