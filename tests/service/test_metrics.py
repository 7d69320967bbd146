"""Stage traces and the Prometheus metrics at /metrics: on a small app, then on the tiny world."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import install_metrics
from service.stages import note_page, stage, traced


def samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_stages_add_up_inside_a_trace_and_do_nothing_outside():
    with stage("ranking"):  # no trace open: nothing to record into, and no error
        pass
    with traced() as trace:
        with stage("ranking"):
            pass
        with stage("ranking"):
            pass
        with stage("pixie"):
            note_page(surface="homefeed", candidates=7, fallback=None, degraded_sources=["pixie"])
    assert set(trace.seconds) == {"ranking", "pixie"}
    assert all(seconds >= 0 for seconds in trace.seconds.values())
    assert (trace.surface, trace.candidates, trace.degraded_sources) == ("homefeed", 7, ["pixie"])
    with traced() as fresh:
        pass
    assert fresh.seconds == {} and fresh.surface is None


@pytest.fixture()
def small_app() -> TestClient:
    app = FastAPI()

    @app.get("/pages/{page_id}")
    def page(page_id: int) -> dict[str, int]:  # a sync route: runs in a worker thread, as the real ones
        with stage("retrieval"):
            pass
        note_page(surface="homefeed", candidates=600, fallback="cold_start" if page_id == 0 else None, degraded_sources=[])
        return {"page": page_id}

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("boom")

    install_metrics(app)
    database = SimpleNamespace(healthy=lambda: False)  # the last database step failed
    app.state.serving = SimpleNamespace(model_versions={"ranker": 3, "pin_embedding": 2}, database=database)
    return TestClient(app, raise_server_exceptions=False)


def test_requests_are_counted_by_route_template_and_status(small_app):
    for page_id in (0, 1, 2):
        assert small_app.get(f"/pages/{page_id}").status_code == 200
    assert small_app.get("/broken").status_code == 500
    assert small_app.get("/no/such/path").status_code == 404
    found = samples(small_app)
    count = "corkboard_request_seconds_count"
    assert found[(count, (("method", "GET"), ("route", "/pages/{page_id}"), ("status", "200")))] == 3
    assert found[(count, (("method", "GET"), ("route", "/broken"), ("status", "500")))] == 1
    assert found[(count, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1


def test_page_traces_feed_stage_candidate_and_fallback_metrics(small_app):
    for page_id in (0, 1):
        small_app.get(f"/pages/{page_id}")
    found = samples(small_app)
    assert found[("corkboard_stage_seconds_count", (("stage", "retrieval"), ("surface", "homefeed")))] == 2
    assert found[("corkboard_candidates_sum", (("surface", "homefeed"),))] == 1200
    assert found[("corkboard_candidates_bucket", (("le", "499.0"), ("surface", "homefeed")))] == 0
    assert found[("corkboard_fallbacks_total", (("fallback", "cold_start"), ("surface", "homefeed")))] == 1
    assert found[("corkboard_model_version", (("kind", "ranker"),))] == 3
    assert found[("corkboard_database_up", ())] == 0


def test_nothing_loaded_reports_no_versions_and_no_database_health(small_app):
    small_app.app.state.serving = None
    names = {name for name, _ in samples(small_app)}
    assert not names & {"corkboard_model_version", "corkboard_database_up"}


def test_the_served_home_feed_reports_every_stage(materialized_tiny):
    from service.app import create_app
    from tests.conftest import corkboard

    user_id = int(corkboard("users", "--limit", "1").stdout.split()[0])
    with TestClient(create_app()) as client:
        assert client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).status_code == 200
        found = samples(client)
    stages = {dict(labels)["stage"] for (name, labels) in found if name == "corkboard_stage_seconds_count"}
    assert {"feature_join", "user_context", "retrieval", "pixie", "ranking", "blend", "filters"} <= stages
    assert found[("corkboard_candidates_count", (("surface", "homefeed"),))] == 1
    assert found[("corkboard_candidates_sum", (("surface", "homefeed"),))] >= 10
    assert {dict(labels)["kind"] for (name, labels) in found if name == "corkboard_model_version"} >= {"ranker", "pin_embedding"}
    assert found[("corkboard_database_up", ())] == 1
