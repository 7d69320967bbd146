"""``corkboard bench``: materialize the world if needed, measure the service and its parts, report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from corkboard.bench.load import LoadResult, Samples, closed_loop, running_service
from corkboard.bench.parts import (
    ann_quality,
    feature_lookup_latency,
    pixie_speed,
    ranker_throughput,
)
from corkboard.bench.report import Report, machine, table, target_checks
from sql.migrate import migrated_engine
from core.settings import Settings, get_settings
from models.pin_board_graph import GRAPH_KIND
from sql.catalogue import read_table
from sql.versions import active_version

Progress = Callable[[str], None]
SERVING_KINDS = ("pin_embedding", "pin_text", "ranker", GRAPH_KIND)
PAGE_SIZE = 25
SURFACE = "homefeed"
HOME_ROUTE = "/v1/users/{user_id}/recommendations"


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure: requests and clients of the load test, repeats of the part benchmarks.

    The service is measured once per entry of ``concurrency``: the first gives the ``service``
    figures the latency targets are checked on, each other one a ``service_<n>_clients`` section."""

    requests: int = 2000
    concurrency: tuple[int, ...] = (1, 2)
    warmup: int = 100
    ranker_runs: int = 200
    pixie_queries: int = 200
    ann_queries: int = 200
    feature_lookups: int = 500
    startup_timeout_s: float = 900.0
    workers: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        counts = (
            self.requests,
            *self.concurrency,
            self.workers,
            self.ranker_runs,
            self.pixie_queries,
            self.ann_queries,
            self.feature_lookups,
        )
        if not self.concurrency or min(counts) < 1 or self.warmup < 0:
            raise ValueError(f"every count must be positive (warmup may be 0): {self}")


def run_bench(
    world: str,
    *,
    out: Path,
    config: BenchConfig,
    command: str,
    progress: Progress = print,
) -> Report:
    """Measure ``world`` (materialized first when the data dir does not serve it) and write the
    JSON report to ``out``, ``command`` recorded in it; the docs page is the caller's to update."""
    started = time.perf_counter()
    settings = get_settings()
    report: Report = {
        "world": world,
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    if not serves_world(settings, world):
        # Dagster is slow to import: only when needed.
        from corkboard.bench.asset_profile import profiled_materialization

        progress(f"materializing world {world!r} into {settings.data_dir}")
        report["materialize"] = profiled_materialization(world, progress=progress)
    report.update(_service(settings, config, progress))

    # Loaded after the server stopped, so that the two never hold the world's state at once.
    from service.app import RANKER_THREADS
    from service.state_loading import open_serving_state

    progress("loading the serving state for the part benchmarks")
    threadpool_limits(limits=RANKER_THREADS, user_api="blas")  # the ranker is measured as the service runs it
    state = open_serving_state(settings)
    progress("ranker")
    report["ranker"] = ranker_throughput(
        state, runs=config.ranker_runs, seed=config.seed
    )
    progress("pixie")
    report["pixie"] = pixie_speed(state.graph.graph, queries=config.pixie_queries, seed=config.seed)
    progress("ann")
    report["ann"] = ann_quality(state, queries=config.ann_queries, seed=config.seed)
    progress("feature lookup")
    report["feature_lookup"] = feature_lookup_latency(
        state, lookups=config.feature_lookups, seed=config.seed
    )
    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["targets"] = target_checks(report)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    progress(table(report))
    return report


def serves_world(settings: Settings, world: str) -> bool:
    """True when the data dir holds ``world``'s source and an active version of every serving model."""
    if not (settings.source_dir / world / "events.parquet").exists():
        return False
    with migrated_engine(settings).connect() as conn:
        return all(
            active_version(conn, kind=kind) is not None for kind in SERVING_KINDS
        )


def _service(settings: Settings, config: BenchConfig, progress: Progress) -> dict[str, dict[str, Any]]:
    """The service's figures at each concurrency, all from one server (of ``config.workers`` processes),
    and the most memory it held at any reading."""
    with migrated_engine(settings).connect() as conn:
        users = read_table(conn, table="users", columns=("user_id",))["user_id"].to_numpy()
    rng = np.random.default_rng(config.seed)
    progress(f"starting the service on {settings.data_dir}")
    log_path = settings.data_dir / "bench" / "server.log"
    sections = {}
    with running_service(
        settings.data_dir, log_path=log_path, startup_timeout_s=config.startup_timeout_s, workers=config.workers
    ) as server:
        memory_ready = server.memory_mb()
        for number, clients in enumerate(config.concurrency):
            paths, warmup = (_home_feed_paths(rng.choice(users, size=count)) for count in (config.requests, config.warmup))
            progress(f"{config.requests} home-feed requests from {clients} closed-loop clients")
            result = closed_loop(server, paths, concurrency=clients, warmup_paths=warmup)
            name = "service" if number == 0 else f"service_{clients}_clients"
            sections[name] = {
                "requests": config.requests, "concurrency": clients, "workers": config.workers, "users": len(users),
                **service_figures(result), "startup_s": server.startup_s, "memory_mb_ready": round(memory_ready, 1),
                "memory_mb_after_load": round(server.memory_mb(), 1),
            }  # fmt: skip
    # Memory-mapped pages count once a worker touches them, so the most the server held may come
    # after a load rather than when ready: the memory target is checked on the largest reading.
    peak = max(memory_ready, *(section["memory_mb_after_load"] for section in sections.values()))
    return {name: {**section, "memory_mb_peak": round(peak, 1)} for name, section in sections.items()}


def _home_feed_paths(users: np.ndarray) -> list[str]:
    return [f"/v1/users/{user}/recommendations?k={PAGE_SIZE}" for user in users]


def service_figures(result: LoadResult) -> dict[str, Any]:
    """Latency quantiles, throughput, errors, CPU milliseconds per request on each side, candidates,
    mean milliseconds per stage, and which server processes took the requests."""
    latency_ms = result.latencies_s * 1000
    pages = _sample(result.metrics, "corkboard_candidates_count", surface=SURFACE)
    stages = {
        dict(labels)["stage"]: value
        for (name, labels), value in result.metrics.items()
        if name == "corkboard_stage_seconds_sum"
        and dict(labels).get("surface") == SURFACE
    }
    return {
        "workers_with_clients": result.workers_with_clients,
        "requests_counted_by_server": int(
            _sample(result.metrics, "corkboard_request_seconds_count", route=HOME_ROUTE, method="GET", status="200")
        ),
        "p50_ms": round(float(np.quantile(latency_ms, 0.5)), 2),
        "p95_ms": round(float(np.quantile(latency_ms, 0.95)), 2),
        "p99_ms": round(float(np.quantile(latency_ms, 0.99)), 2),
        "rps": round(len(latency_ms) / result.wall_s, 1),
        "errors": int(result.errors),
        "server_cpu_ms_per_request": round(result.cpu.server * 1000 / len(latency_ms), 2),
        "client_cpu_ms_per_request": round(result.cpu.client * 1000 / len(latency_ms), 2),
        "candidates_per_request": round(
            _sample(result.metrics, "corkboard_candidates_sum", surface=SURFACE)
            / pages,
            1,
        )
        if pages
        else 0.0,
        "share_under_500_candidates": round(
            _sample(
                result.metrics,
                "corkboard_candidates_bucket",
                surface=SURFACE,
                le="499.0",
            )
            / pages,
            4,
        )
        if pages
        else 0.0,
        "stage_mean_ms": {
            stage: round(seconds * 1000 / pages, 3)
            for stage, seconds in sorted(stages.items())
        }
        if pages
        else {},
    }


def _sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
