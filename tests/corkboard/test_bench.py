"""`corkboard bench` on the tiny world: the report's shape, no failed requests, the docs block only
when asked for. Never timings: those depend on the machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corkboard.bench import run
from corkboard.bench.report import Report, target_checks, write_markdown
from corkboard.bench.run import BenchConfig, run_bench
from corkboard.cli import main

SMALL = BenchConfig(
    requests=40,
    concurrency=(1, 3),
    warmup=5,
    ranker_runs=5,
    pixie_queries=5,
    ann_queries=10,
    feature_lookups=10,
    workers=2,  # the several-process path: start-up of each, metrics summed over them
)


def fake_report(world: str, p99: float) -> Report:
    """A finished report with only the figures the docs block needs."""
    base = {
        "world": world, "command": f"corkboard bench --world {world}", "date": "today", "duration_s": 1.0,
        "machine": {
            "cpu": "cpu", "cores": 2, "memory_gib": 1.0, "python": "3.11", "torch": "2.2", "load_average_1m": 0.5,
            "blas": "openblas 0.3.23, SkylakeX kernels",
        },
        "service": {"p50_ms": 1.0, "p99_ms": p99},
    }  # fmt: skip
    return {**base, "targets": target_checks(base)}


def test_bench_on_the_tiny_world_reports_every_part(materialized_tiny, tmp_path):
    out = tmp_path / "bench.json"
    run_bench(
        "tiny",
        out=out,
        config=SMALL,
        command="corkboard bench --world tiny",
        progress=lambda _: None,
    )

    report = json.loads(out.read_text())
    service = report["service"]
    assert service["requests"] == 40 and service["errors"] == 0
    assert 0 < service["p50_ms"] <= service["p95_ms"] <= service["p99_ms"]
    assert (
        service["candidates_per_request"] > 0
        and 0 <= service["share_under_500_candidates"] <= 1
    )
    assert {"feature_join", "retrieval", "pixie", "ranking", "blend", "filters"} <= set(
        service["stage_mean_ms"]
    )
    assert service["memory_mb_ready"] > 0 and service["startup_s"] > 0 and service["concurrency"] == 1
    assert service["workers"] == 2 and service["requests_counted_by_server"] == 40  # both workers' counts
    assert service["workers_with_clients"] == 1  # one client, one connection
    readings = (service["memory_mb_ready"], service["memory_mb_after_load"], report["service_3_clients"]["memory_mb_after_load"])
    assert service["memory_mb_peak"] == max(readings)
    assert service["server_cpu_ms_per_request"] > 0 and service["client_cpu_ms_per_request"] > 0
    concurrent = report["service_3_clients"]
    assert concurrent["concurrency"] == 3 and concurrent["requests"] == 40 and concurrent["errors"] == 0
    assert concurrent["requests_counted_by_server"] == 40 and 1 <= concurrent["workers_with_clients"] <= 2
    assert (
        report["ranker"]["items_per_s"] > 0
        and report["ranker"]["bare_matmul_items_per_s"] > 0
    )
    assert report["pixie"]["steps_per_s"] > 0 and report["pixie"]["query_p99_ms"] > 0
    assert 0 <= report["ann"]["recall_at_100"] <= 1 and report["ann"]["hnsw_qps"] > 0
    assert report["feature_lookup"]["p50_ms"] <= report["feature_lookup"]["p99_ms"]
    assert {(check["section"], check["figure"]) for check in report["targets"]} >= {
        ("service", "p99_ms"),
        ("ann", "recall_at_100"),
    }
    assert report["command"] == "corkboard bench --world tiny"


def test_start_up_memory_and_materialization_targets_hold_for_their_world():
    measured = {"world": "demo", "service": {"startup_s": 4.7, "memory_mb_peak": 900.0}, "service_2_clients": {"rps": 121.0}}
    checks = {(check["section"], check["figure"]): check["met"] for check in target_checks(measured)}
    assert checks[("service", "startup_s")] is True and checks[("service", "memory_mb_peak")] is False
    assert checks[("service_2_clients", "rps")] is True and checks[("materialize", "seconds")] is None
    tiny = {(check["section"], check["figure"]) for check in target_checks({**measured, "world": "tiny"})}
    assert ("service", "memory_mb_peak") not in tiny and ("service_2_clients", "rps") in tiny


def test_a_world_block_is_replaced_and_the_rest_of_the_page_kept(tmp_path: Path):
    doc = tmp_path / "performance.md"
    write_markdown(doc, fake_report("demo", 30.0))
    write_markdown(doc, fake_report("large", 40.0))
    write_markdown(doc, fake_report("demo", 15.0))
    text = doc.read_text()
    assert (
        text.count("<!-- bench:demo -->") == 1
        and text.count("<!-- bench:large -->") == 1
    )
    assert (
        "| service p99_ms <= 20 | 15 | yes |" in text
        and "| service p99_ms <= 20 | 40 | **no** |" in text
    )
    assert "| 30 |" not in text


def test_the_command_writes_the_docs_block_only_with_update_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    p99s = iter((30.0, 15.0, 12.0))
    monkeypatch.setattr(run, "run_bench", lambda world, **_: fake_report(world, next(p99s)))  # no measuring
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nHand-written notes stay.\n")
    page = doc.read_bytes()
    command = ["bench", "--world", "demo", "--out", str(tmp_path / "bench.json"), "--doc", str(doc)]

    assert main(command) == 0
    assert doc.read_bytes() == page

    assert main([*command, "--update-docs"]) == 0
    assert main([*command, "--update-docs"]) == 0
    text = doc.read_text()
    assert text.startswith("# Performance\n\nHand-written notes stay.\n")
    assert text.count("<!-- bench:demo -->") == 1 and "| service p99_ms <= 20 | 12 | yes |" in text
    assert "| 15 |" not in text
