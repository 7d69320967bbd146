"""``corkboard evaluate --funnel`` on tiny: the command runs, its figures agree with each other, its
page is the one ``home_feed`` serves, and its table reaches Dagster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dagster import DagsterInstance

from corkboard.cli import main
from corkboard.evaluate.funnel_data import funnel_data_dir, funnel_settings, materialized_world
from corkboard.evaluate.funnel_report import funnel_markdown
from corkboard.evaluate.funnel_serving import PAGE_K, PINNER_ONLY, served_request
from corkboard.evaluate.funnel_world import hold_out
from core.database import stop_embedded_postgres
from core.settings import get_settings
from core.sources import load_world
from orchestration.assets.offline_evaluation import offline_evaluation, record_funnel
from service.state_loading import open_serving_state
from service.surfaces.home_feed import home_feed
from tests.conftest import corkboard


@pytest.fixture(scope="module")
def funnel(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """The funnel report of tiny, written by the command; the funnel's database is stopped afterwards."""
    out = tmp_path_factory.mktemp("funnel") / "tiny.json"
    result = corkboard("evaluate", "--funnel", "--dataset", "tiny", "--out", str(out), check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    yield json.loads(out.read_text()), out
    stop_embedded_postgres(funnel_data_dir(session_data_dir, "tiny") / "postgres")


def test_every_eligible_user_is_served_without_degradation(funnel: tuple[dict[str, Any], Path]) -> None:
    report, out = funnel
    assert report["protocol"]["users"] == 223
    assert report["diagnostics"]["degraded_requests"] == 0
    assert set(report["sources"]) >= {"embedding", "two_tower", "pinsage", "pinnersage", "co_engagement", "pixie"}
    assert set(report["models"]) == {"embedding", "two_tower", "pinsage"}
    assert {"retrieval", "ranking", "filters", "total"} <= set(report["latency_ms"])
    markdown = out.with_suffix(".md").read_text()
    assert "| pixie |" in markdown and "| page (blend" in markdown and "| two_tower |" in markdown
    assert "| PinSAGE prior weight (others as served) |" in markdown and "| two-tower prior weight" in markdown
    assert "served |" in markdown


def test_the_figures_agree_with_each_other(funnel: tuple[dict[str, Any], Path]) -> None:
    report, _ = funnel
    candidates, page = report["stages"]["candidates"], report["stages"]["page"]
    for source, row in report["sources"].items():
        assert candidates["recall"] >= row["recall"], source  # the union holds whatever a source proposed
        assert row["recall@100"] <= row["recall@500"] <= row["recall"], source
        assert row["unique_on_page@100"] <= row["unique"] <= row["recall"], source
    assert sum(row["unique"] for row in report["sources"].values()) <= candidates["recall"]
    ranked = [candidates[f"recall@{k}"] for k in (10, 25, 100, 500)] + [candidates["recall"]]
    assert ranked == sorted(ranked)
    assert page["recall@10"] <= page["recall@25"] <= page["recall@100"] <= candidates["recall"]
    for row in (candidates, page, *report["models"].values()):
        assert 0 <= row["ndcg@10"] <= row["recall@10"]
    for kind, weight in get_settings().prior_weights.items():
        prior = report["priors"][kind]
        assert prior["served"] == f"{weight:g}" and prior["best"] in prior["weights"]
        for metric in ("recall@10", "recall@100", "ndcg@10"):  # the sweep at the served weights is the ranked order
            assert prior["weights"][prior["served"]][metric] == pytest.approx(candidates[metric]), (kind, metric)
    union = report["targets"]["ranked_union_holds_sources@500"]
    assert union["held"] <= union["found_by_a_source"] <= len(report["sources"]) * report["protocol"]["users"]
    assert set(report["targets"]["sources"]) == set(report["sources"])


def test_the_page_is_the_one_home_feed_serves(funnel: tuple[dict[str, Any], Path], session_data_dir: Path) -> None:
    cut, held = hold_out(load_world("tiny")[0], "tiny")
    folder = funnel_data_dir(session_data_dir, "tiny")
    assert materialized_world(cut, folder, progress=lambda line: None)[0] is None  # reused, not materialized again
    state = open_serving_state(funnel_settings(get_settings(), folder))
    for user_id in held.user_ids[:3].tolist():
        served = served_request(state, user_id)
        page = home_feed(state, user_id=user_id, k=PAGE_K, weights=PINNER_ONLY)
        assert state.vectors.model.pin_ids[served.page].tolist() == [item.pin_id for item in page.items]
        assert np.isin(served.page, served.ranked).all()


def test_the_funnel_table_reaches_dagster(funnel: tuple[dict[str, Any], Path]) -> None:
    report, out = funnel
    with DagsterInstance.ephemeral() as instance:
        record_funnel(instance, report, funnel_markdown(report), out)
        metadata = instance.get_latest_materialization_event(offline_evaluation.key).asset_materialization.metadata
    assert metadata["evaluation"].value == "funnel" and "| pixie |" in metadata["table"].value
    assert metadata["funnel/stages/page/recall@10"].value == report["stages"]["page"]["recall@10"]
    assert metadata["funnel/targets/page_vs_best_model"].value == report["targets"]["page_vs_best_model"]["met"]


@pytest.mark.parametrize(
    "arguments", [["--tune"], ["--models", "popularity", "--out", "r.json"], []], ids=["tune", "models", "no-out"]
)
def test_what_the_funnel_refuses(arguments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--funnel", "--dataset", "tiny", *arguments]) == 2


def test_validation_is_a_stage_of_the_funnel_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--dataset", "tiny", "--validation", "--out", "r.json"]) == 2
    assert "--validation is a stage of --funnel" in capsys.readouterr().err
