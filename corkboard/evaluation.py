"""``corkboard evaluate``: every registered model on one dataset, under the protocol of models/leave_last_out.py.

Models see the split with its test items hidden; they may use the validation item for early stopping
and model choice. Test metrics are computed here, once per model, and written as JSON plus a Markdown
table beside it.
"""

from __future__ import annotations

import datetime
import importlib
import json
import time
from collections.abc import Callable
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from core.sources import load_world
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
from models.baselines import (
    CoEngagementRecommender,
    ItemCooccurrenceConfig,
    ItemCooccurrenceRecommender,
    PinnerSageRecommender,
    PinnerSageRecommenderConfig,
    PopularityRecommender,
)
from models.co_engagement import CoEngagementConfig
from models.leave_last_out import (
    INTERACTIONS,
    KS,
    MIN_INTERACTIONS,
    NDCG_K,
    STAGES,
    ChosenOnValidation,
    EvaluationSplit,
    Recommender,
    evaluate_recommender,
    first_interactions,
    split_world,
)
from models.pinnersage import PinnerSageConfig

DATASETS = ("ml100k", "tiny", "demo")
METRICS = (*(f"recall@{k}" for k in KS), f"ndcg@{NDCG_K}")

Progress = Callable[[str], None]
Factory = Callable[[Progress], Recommender]

# Validation grids for the baselines: each gets the same model choice a learned model gets.
COOCCURRENCE_HALF_LIVES = (1.0, 2.0, 4.0, 8.0, 32.0)
EMBEDDING_DIMS = (16, 32, 64)
PINNERSAGE_DIMS = (16, 64)
PINNERSAGE_THRESHOLDS = (0.5, 1.0)
PINNERSAGE_HALF_LIFE_DAYS = 1.0  # beat 14 days on ml100k's and tiny's validation items wherever we tried both

# The all-action comparison on the synthetic worlds. The paper's 14-day window does not fit twice into
# tiny's 14-day log (validation window, then test window, with history before both).
ALL_ACTION_WINDOW_DAYS = {"tiny": 3.0, "demo": 7.0}
ALL_ACTION_MAX_USERS = 2_000  # users scored per window: a fixed random sample where more are eligible
ALL_ACTION_PINNERFORMER_SIZES = ("small", "base")
ALL_ACTION_HALF_LIVES_DAYS = (1.0, 14.0)
PAPER_RATIO = 0.255 / 0.205  # PinnerFormer against PinnerSage (20 clusters), all-action recall@100


def _chosen(name: str, candidates: list[Callable[[], Recommender]]) -> Factory:
    return lambda progress: ChosenOnValidation(name, candidates)


def _pinnersage_candidates() -> list[Callable[[], Recommender]]:
    return [
        partial(
            PinnerSageRecommender,
            PinnerSageRecommenderConfig(
                PinnerSageConfig(distance_threshold=threshold, half_life_days=PINNERSAGE_HALF_LIFE_DAYS),
                CoEngagementConfig(dim=dim),
            ),
        )
        for dim, threshold in product(PINNERSAGE_DIMS, PINNERSAGE_THRESHOLDS)
    ]


def _pinsage(progress: Progress) -> Recommender:
    def on_epoch(epoch: int, loss: float, recall: float) -> None:
        progress(f"pinsage: epoch {epoch} loss {loss:.4f} validation recall@10 {recall:.4f}")

    return importlib.import_module("models.pinsage").PinSageRecommender(on_epoch=on_epoch)


def _two_tower(progress: Progress) -> Recommender:
    module = importlib.import_module("models.two_tower")  # only when asked for
    return module.TwoTowerRecommender(
        on_epoch=lambda epoch, loss, recall: progress(
            f"two_tower: epoch {epoch} loss {loss:.4f} validation recall@10 {recall:.4f}"
        )
    )


def _pinnerformer(name: str, objective: str, size: str) -> Factory:
    """PinnerFormer with ``objective`` at one of the module's ``SIZES``, reporting each epoch."""

    def build(progress: Progress) -> Recommender:
        module = importlib.import_module("models.pinnerformer")  # only when asked for
        config = module.PinnerFormerConfig(objective=objective, **module.SIZES[size])

        def on_epoch(epoch: int, loss: float, recall: float) -> None:
            progress(f"{name}: epoch {epoch} loss {loss:.4f} validation recall@10 {recall:.4f}")

        return module.PinnerFormerRecommender(config, name=name, on_epoch=on_epoch)

    return build


MODELS: dict[str, Factory] = {
    "popularity": lambda progress: PopularityRecommender(),
    "item_cooccurrence": _chosen(
        "item_cooccurrence",
        [partial(ItemCooccurrenceRecommender, ItemCooccurrenceConfig(h)) for h in COOCCURRENCE_HALF_LIVES],
    ),
    "co_engagement": _chosen(
        "co_engagement", [partial(CoEngagementRecommender, CoEngagementConfig(dim=d)) for d in EMBEDDING_DIMS]
    ),
    "pinnersage": _chosen("pinnersage", _pinnersage_candidates()),
    "pinsage": _pinsage,
    "two_tower": _two_tower,
}

# The PinnerFormer ablation: three objectives at two sizes.
ABLATIONS: dict[str, Factory] = {
    f"pinnerformer_{objective}_{size}": _pinnerformer(f"pinnerformer_{objective}_{size}", objective, size)
    for objective, size in product(("next_action", "dense_next_action", "dense_all_action"), ("small", "base"))
}
# Registry entries that are the best of other entries' runs by validation ndcg@10 (each run once).
CHOSEN_FROM: dict[str, tuple[str, ...]] = {"pinnerformer": tuple(ABLATIONS)}
MODEL_NAMES = (*MODELS, *CHOSEN_FROM, *ABLATIONS)


def describe_protocol(dataset: str, split: EvaluationSplit, interacting_users: int) -> dict[str, Any]:
    """What the figures mean, written into the report."""
    return {
        "dataset": dataset,
        "interaction": f"a user's first {'/'.join(INTERACTIONS)} event with a pin (MovieLens: one per rating)",
        "order": "per user by timestamp, ties by item id",
        "split": "last interaction = test, the one before = validation (early stopping and model choice only), "
        "the rest = training",
        "ranking": "all items; the user's history (training items, plus the validation item for test) excluded",
        "ties": "pessimistic: rank = 1 + items scoring at least as high as the held-out item",
        "metrics": list(METRICS),
        "users": split.n_users,
        "items": split.n_items,
        "training_interactions": int(sum(len(items) for items in split.train)),
        "dropped_users": interacting_users - split.n_users,
        "dropped_rule": f"users with fewer than {MIN_INTERACTIONS} interactions",
        "boards": "board edges from a user to their own validation or test item removed",
    }


def _run(name: str, model: Recommender, split: EvaluationSplit, progress: Progress) -> dict[str, Any]:
    """Fit on the split without test items, then validation and test metrics and timings."""
    progress(f"{name}: fitting")
    started = time.perf_counter()
    model.fit(split.without_test())
    fitted = time.perf_counter()
    validation = evaluate_recommender(model, split, "validation")
    test = evaluate_recommender(model, split, "test")
    seconds = {"fit": fitted - started, "score": time.perf_counter() - fitted}
    config = getattr(model, "config", None)
    progress(
        f"{name}: fit {seconds['fit']:.1f}s, score {seconds['score']:.1f}s; "
        + ", ".join(f"{metric} {test[metric]:.4f}" for metric in METRICS)
    )
    return {"validation": validation, "test": test, "seconds": seconds, "config": None if config is None else repr(config)}


def _best_on_validation(candidates: dict[str, dict[str, Any] | str]) -> dict[str, Any] | str:
    """The candidate run with the best validation ndcg@10 (the first on ties), its seconds being
    all candidates' (the cost of the choice); why all were skipped if none ran."""
    ran = {candidate: result for candidate, result in candidates.items() if not isinstance(result, str)}
    if not ran:
        return f"no candidate ran: {next(iter(candidates.values()), 'none registered')}"
    best = max(ran, key=lambda candidate: ran[candidate]["validation"][f"ndcg@{NDCG_K}"])
    seconds = {part: sum(result["seconds"][part] for result in ran.values()) for part in ("fit", "score")}
    return {**ran[best], "seconds": seconds, "config": f"{best}: {ran[best]['config']}", "chosen": best}


def evaluate(dataset: str, out: Path, *, models: list[str] | None = None, progress: Progress = print) -> dict[str, Any]:
    """Evaluate ``models`` (default: all registered) on ``dataset``; write ``out`` (JSON) and its .md.

    A learned model whose module cannot be imported is listed under ``skipped`` with the reason.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    names = list(models) if models is not None else list(MODEL_NAMES)
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected some of {MODEL_NAMES}")
    world, _ = load_world(dataset)
    split = split_world(world)
    interacting = first_interactions(world.events)["user_id"].nunique()
    report: dict[str, Any] = {
        "protocol": describe_protocol(dataset, split, interacting),
        "results": {},
        "ablations": {},
        "validation": {},
        "seconds": {},
        "configs": {},
        "skipped": {},
    }
    progress(f"{dataset}: {split.n_users} users, {split.n_items} items")
    runs: dict[str, dict[str, Any] | str] = {}  # a run, or why it was skipped

    def run(name: str) -> dict[str, Any] | str:
        if name not in runs:
            try:
                model = (ABLATIONS.get(name) or MODELS[name])(progress)
            except ImportError as error:
                progress(f"{name}: skipped ({error})")
                runs[name] = f"not available: {error}"
            else:
                runs[name] = _run(name, model, split, progress)
        return runs[name]

    for name in names:
        chosen_from = CHOSEN_FROM.get(name)
        result = run(name) if chosen_from is None else _best_on_validation({c: run(c) for c in chosen_from})
        if isinstance(result, str):
            report["skipped"][name] = result
            continue
        report["ablations" if name in ABLATIONS else "results"][name] = result["test"]
        report["validation"][name] = result["validation"]
        report["seconds"][name] = result["seconds"]
        report["configs"][name] = result["config"]
        if "chosen" in result:
            report.setdefault("chosen", {})[name] = result["chosen"]
    if dataset in ALL_ACTION_WINDOW_DAYS and {"pinnerformer", "pinnersage"} <= set(names):
        report["all_action"] = all_action_report(world, dataset, progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_report(report))
    return report


def _all_action_pinnerformer(
    size: str, split: AllActionSplit, users: np.ndarray, progress: Progress, bias_features: np.ndarray | None = None
) -> Callable[[], Recommender]:
    """A dense all-action PinnerFormer at ``size`` that early-stops on validation-window recall@100;
    each item's vector adds a learned projection of its category (catalogue content, as PinSAGE
    vectors carry in the paper), and its score a learned bias of ``bias_features`` if given."""

    def build() -> Recommender:
        module = importlib.import_module("models.pinnerformer")
        name = f"pinnerformer_dense_all_action_{size}" + ("" if bias_features is None else "_impression_bias")
        config = module.PinnerFormerConfig(objective="dense_all_action", **module.SIZES[size])

        def on_epoch(epoch: int, loss: float, recall: float) -> None:
            progress(f"all-action {name}: epoch {epoch} loss {loss:.4f} validation recall@{ALL_ACTION_K} {recall:.4f}")

        def validation_recall(model: Recommender) -> float:
            return all_action_recall(model.scores, split, "validation", users=users)

        return module.PinnerFormerRecommender(
            config,
            item_features=category_one_hot(split.item_category),
            bias_features=bias_features,
            name=name,
            on_epoch=on_epoch,
            validation_score=validation_recall,
        )

    return build


def _all_action_pinnersage(item_vectors: np.ndarray) -> list[Callable[[], Recommender]]:
    """PinnerSage candidates: over PinnerFormer's own pin vectors or co-engagement ones, at each Ward
    threshold and importance half-life."""
    return [
        partial(
            PinnerSageRecommender,
            PinnerSageRecommenderConfig(
                PinnerSageConfig(distance_threshold=threshold, half_life_days=half_life), CoEngagementConfig(dim=64)
            ),
            item_vectors=given,
        )
        for given in (item_vectors, None)
        for threshold, half_life in product(PINNERSAGE_THRESHOLDS, ALL_ACTION_HALF_LIVES_DAYS)
    ]


def _fit_and_test(
    model: ChosenOnValidation, split: AllActionSplit, users: np.ndarray, progress: Progress
) -> dict[str, Any]:
    """Fit (with model choice on the validation window), then test-window recall@K and seconds."""
    started = time.perf_counter()
    model.fit(split)
    fitted = time.perf_counter()
    test = all_action_recall(model.scores, split, "test", users=users)
    progress(f"all-action {model.name}: test recall@{ALL_ACTION_K} {test:.4f} (validation {model.chosen_score:.4f})")
    return {
        f"validation_recall@{ALL_ACTION_K}": model.chosen_score,
        f"recall@{ALL_ACTION_K}": test,
        "seconds": {"fit": fitted - started, "score": time.perf_counter() - fitted},
    }


def all_action_report(world: World, dataset: str, progress: Progress = print) -> dict[str, Any]:
    """PinnerFormer (dense all-action loss) against PinnerSage on the all-action protocol of
    ``models.all_action``: each chosen on the validation window, then scored once on the test window."""
    split = split_world_by_time(world, ALL_ACTION_WINDOW_DAYS[dataset])
    users = {stage: sample_users(split, stage, ALL_ACTION_MAX_USERS) for stage in STAGES}
    progress(
        f"all-action on {dataset}: {split.n_users} users, {split.n_items} items, "
        + ", ".join(f"{len(users[stage])} {stage} users" for stage in STAGES)
    )

    def validation_recall(model: Recommender, _: object) -> float:
        return all_action_recall(model.scores, split, "validation", users=users["validation"])

    pinnerformer = ChosenOnValidation(
        "pinnerformer",
        [
            _all_action_pinnerformer(size, split, users["validation"], progress, bias)
            for bias in (None, log_impressions(world, split))
            for size in ALL_ACTION_PINNERFORMER_SIZES
        ],
        validation_score=validation_recall,
    )
    results = {"pinnerformer": _fit_and_test(pinnerformer, split, users["test"], progress)}
    results["pinnerformer"]["config"] = f"{pinnerformer.chosen.name}: {pinnerformer.config!r}"
    pinnersage = ChosenOnValidation(
        "pinnersage", _all_action_pinnersage(pinnerformer.chosen.item_vectors()), validation_score=validation_recall
    )
    results["pinnersage"] = _fit_and_test(pinnersage, split, users["test"], progress)
    vectors = "co-engagement" if pinnersage.chosen.given_vectors is None else "PinnerFormer's"
    results["pinnersage"]["config"] = f"{vectors} pin vectors: {pinnersage.config!r}"
    ratio = results["pinnerformer"][f"recall@{ALL_ACTION_K}"] / max(results["pinnersage"][f"recall@{ALL_ACTION_K}"], 1e-12)
    return {
        "protocol": {
            "window_days": ALL_ACTION_WINDOW_DAYS[dataset],
            "cutoffs": {stage: datetime.datetime.fromtimestamp(split.cutoffs[stage], datetime.UTC).isoformat() for stage in STAGES},
            "training": "interactions before the validation cut-off only",
            "input": "each user's interactions before the stage's cut-off (test input includes the validation window)",
            "positives": "pins first engaged (click/long_click/save) in the window after the cut-off",
            "ranking": f"top {ALL_ACTION_K} of all pins, the user's history pins excluded",
            "metric": f"recall@{ALL_ACTION_K} = |top {ALL_ACTION_K} & positives| / min({ALL_ACTION_K}, |positives|), "
            "averaged over users with a history and a positive",
            "users": {stage: len(users[stage]) for stage in STAGES},
            "eligible_users": {stage: len(split.evaluated_users(stage)) for stage in STAGES},
            "user_sample": f"a fixed random {ALL_ACTION_MAX_USERS} where more are eligible",
            "model_choice": "validation-window recall@100: PinnerFormer sizes x impression bias (and epochs), "
            "PinnerSage pin vectors x "
            "Ward threshold x half-life",
        },
        "results": results,
        "ratio": ratio,
        "paper_ratio": PAPER_RATIO,
    }


def _table(rows: dict[str, dict[str, float]], report: dict[str, Any]) -> list[str]:
    lines = [
        "| model | " + " | ".join(METRICS) + " | validation ndcg@10 | seconds |",
        "| --- |" + " ---: |" * (len(METRICS) + 2),
    ]
    for name, metrics in rows.items():
        seconds = sum(report["seconds"][name].values())
        cells = [f"{metrics[metric]:.4f}" for metric in METRICS]
        cells += [f"{report['validation'][name][f'ndcg@{NDCG_K}']:.4f}", f"{seconds:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _all_action_table(block: dict[str, Any]) -> list[str]:
    protocol, recall = block["protocol"], f"recall@{ALL_ACTION_K}"
    lines = [
        f"## All-action {recall} (PinnerFormer protocol)",
        "",
        (
            f"Windows of {protocol['window_days']:g} days after {protocol['cutoffs']['validation']} (validation) and "
            f"{protocol['cutoffs']['test']} (test); {protocol['users']['test']} test users; models trained before the "
            "validation cut-off; history pins excluded."
        ),
        "",
        f"| model | test {recall} | validation {recall} | seconds | chosen |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, row in block["results"].items():
        seconds = sum(row["seconds"].values())
        lines.append(
            f"| {name} | {row[recall]:.4f} | {row[f'validation_{recall}']:.4f} | {seconds:.1f} | {row['config']} |"
        )
    lines += ["", f"PinnerFormer / PinnerSage: {block['ratio']:.3f} (the paper: {block['paper_ratio']:.3f})."]
    return lines


def markdown_report(report: dict[str, Any]) -> str:
    """The report's test metrics as Markdown tables (results, then ablations), with skipped models."""
    protocol = report["protocol"]
    lines = [
        f"# Evaluation on {protocol['dataset']}",
        "",
        (
            f"{protocol['users']} users, {protocol['items']} items; test item per user, all items ranked, "
            "history excluded; seconds = fit + score."
        ),
        "",
        *_table(report["results"], report),
    ]
    if report["ablations"]:
        lines += ["", "## Ablations", "", *_table(report["ablations"], report)]
    if "all_action" in report:
        lines += ["", *_all_action_table(report["all_action"])]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {name}: {reason}" for name, reason in report["skipped"].items()]
    return "\n".join(lines) + "\n"
