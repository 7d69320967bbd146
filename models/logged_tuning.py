"""Tuning on a log of requests: weights chosen on a share of them, checked on the held-out rest,
the trade-off written as a table and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.utility_tuner import Thresholds, page_utilities, plot_tradeoff, tune_weights


def split_requests(
    requests: pd.DataFrame, *, holdout_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tuning, held-out) requests, split by whole request; neither side is empty."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    ids = requests["request_id"].unique()
    if len(ids) < 2:
        raise ValueError(f"need at least 2 requests to hold some out, got {len(ids)}")
    held = min(max(1, round(holdout_fraction * len(ids))), len(ids) - 1)
    held_ids = np.random.default_rng(seed).permutation(ids)[:held]
    is_held = requests["request_id"].isin(held_ids)
    return requests[~is_held], requests[is_held]


def tune_logged(
    requests: pd.DataFrame,
    *,
    thresholds: Thresholds,
    k: int,
    max_per_creator: int,
    out_dir: Path,
    holdout_fraction: float = 0.3,
    seed: int = 0,
) -> dict[str, Any]:
    """Tune on a share of ``requests``, check on the rest, both on pages filled as the service fills
    them (at most ``max_per_creator`` pins of a creator); writes tradeoff.csv and tradeoff.png."""
    tuning, held_out = split_requests(requests, holdout_fraction=holdout_fraction, seed=seed)
    result = tune_weights(tuning, k=k, max_per_creator=max_per_creator, thresholds=thresholds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / "tradeoff.csv"
    result.table.to_csv(table_path, index=False)
    plot_path = plot_tradeoff(result.table, result.chosen, out_dir / "tradeoff.png", minimums=result.minimums)
    held_out_report = None
    if result.chosen is not None:
        utilities = page_utilities(held_out, weights=result.chosen, k=k, max_per_creator=max_per_creator)
        shortfalls = {
            name: minimum - utilities[name] for name, minimum in result.minimums.items() if utilities[name] < minimum
        }
        held_out_report = {"utilities": utilities, "meets_minimums": not shortfalls, "shortfalls": shortfalls}
    return {
        "k": k,
        "max_per_creator": max_per_creator,
        "requests": {"tuning": int(tuning["request_id"].nunique()), "held_out": int(held_out["request_id"].nunique())},
        "minimums": result.minimums,
        "chosen": None if result.chosen is None else result.chosen.as_dict(),
        "reason": result.reason,
        "feasible": result.feasible_count,
        "grid_points": len(result.table),
        "tuning": result.chosen_utilities,
        "held_out": held_out_report,
        "paths": {"tradeoff_csv": str(table_path), "tradeoff_png": str(plot_path)},
    }
