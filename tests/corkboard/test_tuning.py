"""Tuning on requests logged through a fake serving path: files, held-out check, replay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import service.request_log
from corkboard.tuning import tune
from models.logged_tuning import split_requests, tune_logged
from models.utility_tuner import Thresholds

CANDIDATES = 40
CATALOGUE = 10_000
# Stands in for the ServingState: the pins' creators and image signatures, and the creator cap.
STATE = SimpleNamespace(
    pins=SimpleNamespace(
        creator_id=np.arange(CATALOGUE) % 500, image_signature=np.arange(CATALOGUE) % 3_000
    ),
    settings=SimpleNamespace(max_pins_per_creator=2, prior_weights={"pinsage": 3.0, "two_tower": 1.5}),
)


@dataclass(frozen=True)
class FakeScored:
    """The fields of service.scoring.ScoredCandidates that tuning reads."""

    rows: np.ndarray
    pin_ids: np.ndarray
    sources: list[list[str]]
    heads: dict[str, np.ndarray]
    is_ad: np.ndarray
    is_shopping: np.ndarray
    creator_pin_count: np.ndarray
    pin_age_days: np.ndarray
    similarities: dict[str, np.ndarray]


def fake_score_candidates(state: object, *, user_id: int) -> FakeScored:
    assert state is STATE
    rng = np.random.default_rng(user_id)
    n = 0 if user_id == 13 else CANDIDATES  # one user without candidates logs no rows
    rows = rng.choice(CATALOGUE, size=n, replace=False)
    return FakeScored(
        rows=rows,
        pin_ids=rows + 1,
        sources=[["embedding"]] * n,
        heads={action: rng.uniform(0, 0.4, n) for action in ("click", "save", "long_click", "hide")},
        is_ad=rng.random(n) < 0.15,
        is_shopping=rng.random(n) < 0.2,
        creator_pin_count=rng.integers(0, 5_000, n).astype(float),
        pin_age_days=rng.exponential(20, n),
        similarities={"pinsage": rng.uniform(-1, 1, n), "two_tower": rng.uniform(-1, 1, n)},
    )


@pytest.fixture()
def fake_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.request_log, "score_candidates", fake_score_candidates)


USERS = list(range(100, 160)) + [13]


def test_tune_writes_the_log_and_trade_off_and_checks_held_out_requests(fake_serving, tmp_path) -> None:
    summary = tune(
        state=STATE, users=USERS, min_creator=0.0, min_merchant=0.0, min_ad=0.0, k=10, out_dir=tmp_path,
        holdout_fraction=0.25, seed=7, relative=False,
    )
    paths = summary["paths"]
    assert set(paths) == {"requests", "tradeoff_csv", "tradeoff_png"}
    logged = pd.read_parquet(paths["requests"])
    assert logged["request_id"].nunique() == len(USERS) - 1 and len(logged) == (len(USERS) - 1) * CANDIDATES
    assert 13 not in set(logged["user_id"])
    assert (logged["creator_id"] == (logged["pin_id"] - 1) % 500).all()  # the pin's own, for the creator cap
    assert (logged["image_signature"] == (logged["pin_id"] - 1) % 3_000).all()
    prior = logged.groupby("request_id")["similarity_prior"]  # the served priors: zero on average per request
    assert prior.mean().abs().max() < 1e-9 and (prior.std() > 0).all()
    assert len(pd.read_csv(paths["tradeoff_csv"])) == summary["grid_points"] == 216
    assert Path(paths["tradeoff_png"]).read_bytes()[:4] == b"\x89PNG"
    assert summary["requests"] == {"tuning": 45, "held_out": 15}
    assert summary["chosen"] == {"creator": 0.0, "merchant": 0.0, "ad": 0.0}
    assert summary["held_out"]["meets_minimums"] and summary["held_out"]["shortfalls"] == {}
    assert set(summary["held_out"]["utilities"]) == set(summary["tuning"]) == {"pinner", "creator", "merchant", "ad"}
    assert json.loads(json.dumps(summary)) == summary  # the CLI prints it as JSON


def test_binding_minimums_are_met_when_tuning_and_checked_on_held_out(fake_serving, tmp_path) -> None:
    free = tune(state=STATE, users=USERS, min_creator=0, min_merchant=0, min_ad=0, k=10, out_dir=tmp_path / "free")
    ad_minimum = free["tuning"]["ad"] * 1.5
    summary = tune(
        state=STATE, users=USERS, min_creator=0, min_merchant=0, min_ad=ad_minimum, k=10, out_dir=tmp_path / "ads"
    )
    assert summary["chosen"]["ad"] > 0
    assert summary["tuning"]["ad"] >= ad_minimum > free["tuning"]["ad"]
    assert summary["tuning"]["pinner"] < free["tuning"]["pinner"]
    held_out = summary["held_out"]
    assert held_out["meets_minimums"] == (held_out["utilities"]["ad"] >= ad_minimum)
    assert held_out["meets_minimums"] or held_out["shortfalls"]["ad"] > 0


def test_a_logged_run_replays_to_the_same_choice(fake_serving, tmp_path) -> None:
    first = tune(
        state=STATE, users=USERS, min_creator=1.05, min_merchant=0, min_ad=0, relative=True, k=10,
        out_dir=tmp_path / "a",
    )
    replayed = tune_logged(
        pd.read_parquet(first["paths"]["requests"]),
        thresholds=Thresholds(creator=1.05, relative=True),
        k=10,
        max_per_creator=2,
        out_dir=tmp_path / "b",
    )
    assert first["chosen"] is not None and first["chosen"]["creator"] > 0
    assert replayed["chosen"] == first["chosen"] and replayed["held_out"] == first["held_out"]
    assert "requests" not in replayed["paths"]


def test_infeasible_minimums_still_write_the_trade_off(fake_serving, tmp_path) -> None:
    summary = tune(state=STATE, users=USERS, min_creator=1e6, min_merchant=0, min_ad=0, k=10, out_dir=tmp_path)
    assert summary["chosen"] is None and summary["tuning"] is None and summary["held_out"] is None
    assert summary["feasible"] == 0 and "creator reaches at most" in summary["reason"]
    assert (tmp_path / "tradeoff.png").exists() and (tmp_path / "tradeoff.csv").exists()


def test_split_keeps_requests_whole_and_both_sides_non_empty() -> None:
    requests = pd.DataFrame({"request_id": [5, 5, 6, 7, 7, 7], "pin_id": range(6)})
    tuning, held_out = split_requests(requests, holdout_fraction=0.01, seed=0)
    assert len(set(tuning["request_id"])) == 2 and len(set(held_out["request_id"])) == 1
    assert set(tuning["request_id"]).isdisjoint(held_out["request_id"]) and len(tuning) + len(held_out) == 6
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_requests(requests, holdout_fraction=1.0, seed=0)
    with pytest.raises(ValueError, match="at least 2 requests"):
        split_requests(requests.iloc[:2], holdout_fraction=0.5, seed=0)


def test_no_users_is_an_error(fake_serving, tmp_path) -> None:
    with pytest.raises(ValueError, match="no users"):
        tune(state=STATE, users=[], min_creator=0, min_merchant=0, min_ad=0, k=10, out_dir=tmp_path)
