"""Tune the utility weights on requests logged from the serving candidates and ranker.

``tune`` asks the serving path for each sampled user's candidates and head probabilities
(before the blend), writes that request log, tunes on part of it and checks the chosen weights
on the held-out rest. ``tune_logged`` replays a log written earlier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.utility_tuner import Thresholds, page_utilities, plot_tradeoff, tune_weights
from service.serving_state import ServingState
from service.surfaces.home_feed import score_candidates


def log_requests(state: ServingState, *, users: list[int]) -> pd.DataFrame:
    """One request per user: each candidate's head probabilities and blend attributes, in serving order."""
    frames = []
    for request_id, user_id in enumerate(users):
        scored = score_candidates(state, user_id=user_id)
        frames.append(
            pd.DataFrame(
                {
                    "request_id": request_id,
                    "user_id": user_id,
                    "pin_id": np.asarray(scored.pin_ids, dtype=np.int64),
                    **{action: np.asarray(probs, dtype=np.float64) for action, probs in scored.heads.items()},
                    "is_ad": np.asarray(scored.is_ad, dtype=bool),
                    "is_shopping": np.asarray(scored.is_shopping, dtype=bool),
                    "creator_pin_count": np.asarray(scored.creator_pin_count, dtype=np.float64),
                    "pin_age_days": np.asarray(scored.pin_age_days, dtype=np.float64),
                }
            )
        )
    if not frames:
        raise ValueError("no users to log requests for")
    return pd.concat(frames, ignore_index=True)


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
    out_dir: Path,
    holdout_fraction: float = 0.3,
    seed: int = 0,
) -> dict[str, Any]:
    """Tune on a share of ``requests``, check on the rest; writes tradeoff.csv and tradeoff.png."""
    tuning, held_out = split_requests(requests, holdout_fraction=holdout_fraction, seed=seed)
    result = tune_weights(tuning, k=k, thresholds=thresholds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / "tradeoff.csv"
    result.table.to_csv(table_path, index=False)
    plot_path = plot_tradeoff(result.table, result.chosen, out_dir / "tradeoff.png", minimums=result.minimums)
    held_out_report = None
    if result.chosen is not None:
        utilities = page_utilities(held_out, weights=result.chosen, k=k)
        shortfalls = {
            name: minimum - utilities[name] for name, minimum in result.minimums.items() if utilities[name] < minimum
        }
        held_out_report = {"utilities": utilities, "meets_minimums": not shortfalls, "shortfalls": shortfalls}
    return {
        "k": k,
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


def tune(
    *,
    state: ServingState,
    users: list[int],
    min_creator: float,
    min_merchant: float,
    min_ad: float,
    k: int,
    out_dir: Path,
    holdout_fraction: float = 0.3,
    seed: int = 0,
    relative: bool = False,
) -> dict[str, Any]:
    """Log one request per user through the serving path, save it as requests.parquet, and tune.

    The minimums are average page utilities, or multiples of the pinner-only optimum's with
    ``relative``. The summary holds the chosen weights (None if infeasible, with the reason),
    their page utilities on the tuning and held-out requests, the feasible count and the paths.
    """
    requests = log_requests(state, users=users)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "requests.parquet"
    requests.to_parquet(log_path, index=False)
    thresholds = Thresholds(creator=min_creator, merchant=min_merchant, ad=min_ad, relative=relative)
    summary = tune_logged(
        requests, thresholds=thresholds, k=k, out_dir=out_dir, holdout_fraction=holdout_fraction, seed=seed
    )
    summary["paths"] = {"requests": str(log_path), **summary["paths"]}
    return summary
