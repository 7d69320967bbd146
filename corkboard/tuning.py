"""Tune the utility weights on requests logged from the serving candidates and ranker.

``tune`` asks the serving path for each sampled user's candidates and head probabilities
(before the blend), writes that request log, tunes on part of it and checks the chosen weights
on the held-out rest (``models.logged_tuning.tune_logged``, which also replays a log written earlier).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.logged_tuning import tune_logged
from models.utility_tuner import Thresholds
from service.request_log import log_requests
from service.serving_state import ServingState


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
    """Log one request per user through the serving path, save it as requests.parquet, and tune
    on pages filled as the service fills them (its creator cap, ``state.settings``).

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
        requests, thresholds=thresholds, k=k, max_per_creator=state.settings.max_pins_per_creator, out_dir=out_dir,
        holdout_fraction=holdout_fraction, seed=seed,
    )
    summary["paths"] = {"requests": str(log_path), **summary["paths"]}
    return summary
