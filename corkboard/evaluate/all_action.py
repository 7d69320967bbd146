"""PinnerFormer (dense all-action loss) against PinnerSage on the all-action protocol of ``models.all_action``,
on the synthetic worlds and ML-100K: each chosen on the validation window, then scored once on the test window."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from corkboard.evaluate import grids
from corkboard.evaluate.builders import Progress, epoch_reporter, pinnerformer_model, pinnersage_config
from core.world import World
from models.all_action import (
    AllActionSplit,
    all_action_recall,
    category_one_hot,
    log_impressions,
    sample_users,
    split_world_by_time,
)
from models.all_action import K as ALL_ACTION_K
from models.baselines import PinnerSageRecommender
from models.leave_last_out import STAGES, ChosenOnValidation, Recommender

# The paper's 14-day window does not fit twice into tiny's 14-day log (validation window, then test
# window, with history before both). ML-100K's users mostly rate in one burst: with 28 days about 100
# users per window have both a history and later interactions (14 days: 53 and 71).
WINDOW_DAYS = {"tiny": 3.0, "demo": 7.0, "ml100k": 28.0}
MAX_USERS = 2_000  # users scored per window: a fixed random sample where more are eligible
PAPER_RATIO = 0.255 / 0.205  # PinnerFormer against PinnerSage (20 clusters), all-action recall@100
RECALL = f"recall@{ALL_ACTION_K}"


def all_action_report(world: World, dataset: str, progress: Progress = print, seed: int = 0) -> dict[str, Any]:
    """The report's ``all_action`` block for ``dataset`` (a key of ``WINDOW_DAYS``): protocol, each
    model's test and validation recall, and their ratio beside the paper's; PinnerFormer's
    candidates train at ``seed``."""
    split = split_world_by_time(world, WINDOW_DAYS[dataset])
    users = {stage: sample_users(split, stage, MAX_USERS) for stage in STAGES}
    progress(
        f"all-action on {dataset}: {split.n_users} users, {split.n_items} items, "
        + ", ".join(f"{len(users[stage])} {stage} users" for stage in STAGES)
    )

    def validation_recall(model: Recommender, _: object) -> float:
        return all_action_recall(model.scores, split, "validation", users=users["validation"])

    bias = log_impressions(world, split)
    pinnerformer = ChosenOnValidation(
        "pinnerformer",
        [
            _pinnerformer_candidate(setting, split, users["validation"], progress, bias, seed)
            for setting in grids.settings(grids.ALL_ACTION_PINNERFORMER)
        ],
        validation_score=validation_recall,
    )
    results = {"pinnerformer": _fit_and_test(pinnerformer, split, users["test"], progress)}
    results["pinnerformer"]["config"] = f"{pinnerformer.chosen.name}: {pinnerformer.config!r}"
    pinnersage = ChosenOnValidation(
        "pinnersage", _pinnersage_candidates(pinnerformer.chosen.item_vectors()), validation_score=validation_recall
    )
    results["pinnersage"] = _fit_and_test(pinnersage, split, users["test"], progress)
    vectors = "co-engagement" if pinnersage.chosen.given_vectors is None else "PinnerFormer's"
    results["pinnersage"]["config"] = f"{vectors} pin vectors: {pinnersage.config!r}"
    ratio = results["pinnerformer"][RECALL] / max(results["pinnersage"][RECALL], 1e-12)
    protocol = _protocol(dataset, split, users)
    return {"protocol": protocol, "results": results, "ratio": ratio, "paper_ratio": PAPER_RATIO}


def all_action_over_seeds(
    world: World, dataset: str, seeds: Sequence[int], progress: Progress = print
) -> dict[str, Any]:
    """``all_action_report`` once per seed: the first seed's block, with ``seeds`` and, for several,
    each seed's recalls and ratio and the ratios' mean and sample standard deviation."""
    blocks = [all_action_report(world, dataset, progress, seed) for seed in seeds]
    block = {**blocks[0], "seeds": list(seeds)}
    if len(blocks) > 1:
        block["per_seed"] = [
            {
                "seed": seed, "ratio": each["ratio"], "pinnerformer": each["results"]["pinnerformer"][RECALL],
                "pinnersage": each["results"]["pinnersage"][RECALL],
                "pinnerformer_config": each["results"]["pinnerformer"]["config"],
            }
            for seed, each in zip(seeds, blocks, strict=True)
        ]  # fmt: skip
        ratios = np.array([each["ratio"] for each in blocks])
        block["ratio_mean"], block["ratio_std"] = float(ratios.mean()), float(ratios.std(ddof=1))
    return block


def _protocol(dataset: str, split: AllActionSplit, users: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the all-action figures mean, written into the report."""
    return {
        "window_days": WINDOW_DAYS[dataset],
        "cutoffs": {
            stage: datetime.datetime.fromtimestamp(split.cutoffs[stage], datetime.UTC).isoformat() for stage in STAGES
        },
        "training": "interactions before the validation cut-off only",
        "input": "each user's interactions before the stage's cut-off (test input includes the validation window)",
        "positives": "pins first engaged (click/long_click/save) in the window after the cut-off",
        "ranking": f"top {ALL_ACTION_K} of all pins, the user's history pins excluded",
        "metric": f"{RECALL} = |top {ALL_ACTION_K} & positives| / min({ALL_ACTION_K}, |positives|), "
        "averaged over users with a history and a positive",
        "users": {stage: len(users[stage]) for stage in STAGES},
        "eligible_users": {stage: len(split.evaluated_users(stage)) for stage in STAGES},
        "user_sample": f"a fixed random {MAX_USERS} where more are eligible",
        "model_choice": "validation-window recall@100: PinnerFormer sizes x impression bias (and epochs), "
        "PinnerSage pin vectors x Ward threshold x half-life",
    }


def _pinnerformer_candidate(
    setting: grids.Setting, split: AllActionSplit, users: np.ndarray, progress: Progress, bias: np.ndarray, seed: int
) -> Callable[[], Recommender]:
    """A dense all-action PinnerFormer at ``setting``'s size that early-stops on validation-window
    recall; each item's vector adds a learned projection of its category (catalogue content, as PinSAGE
    vectors carry in the paper), and its score a learned bias of ``bias`` where the setting asks."""
    with_bias = setting["impression_bias"]
    name = f"pinnerformer_dense_all_action_{setting['size']}" + ("_impression_bias" if with_bias else "")

    def build() -> Recommender:
        return pinnerformer_model(
            name,
            "dense_all_action",
            setting["size"],
            epoch_reporter(f"all-action {name}", RECALL, progress),
            seed,
            item_features=category_one_hot(split.item_category),
            bias_features=bias if with_bias else None,
            validation_score=lambda model: all_action_recall(model.scores, split, "validation", users=users),
        )

    return build


def _pinnersage_candidates(pinnerformer_vectors: np.ndarray) -> list[Callable[[], Recommender]]:
    """PinnerSage at each setting: over PinnerFormer's own pin vectors or co-engagement ones."""
    return [
        partial(
            PinnerSageRecommender,
            pinnersage_config(setting),
            item_vectors=pinnerformer_vectors if setting["pin_vectors"] == "pinnerformer" else None,
        )
        for setting in grids.settings(grids.ALL_ACTION_PINNERSAGE)
    ]


def _fit_and_test(
    model: ChosenOnValidation, split: AllActionSplit, users: np.ndarray, progress: Progress
) -> dict[str, Any]:
    """Fit (with model choice on the validation window), then test-window recall and seconds."""
    started = time.perf_counter()
    model.fit(split)
    fitted = time.perf_counter()
    test = all_action_recall(model.scores, split, "test", users=users)
    progress(f"all-action {model.name}: test {RECALL} {test:.4f} (validation {model.chosen_score:.4f})")
    return {
        f"validation_{RECALL}": model.chosen_score,
        RECALL: test,
        "seconds": {"fit": fitted - started, "score": time.perf_counter() - fitted},
    }
