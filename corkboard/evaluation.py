"""``corkboard evaluate``: every registered model on one dataset, under the protocol of models/evaluation.py.

Models see the split with its test items hidden; they may use the validation item for early stopping
and model choice. Test metrics are computed here, once per model, and written as JSON plus a Markdown
table beside it.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

from corkboard.sources import load_world
from models.baselines import (
    CoEngagementRecommender,
    ItemCooccurrenceConfig,
    ItemCooccurrenceRecommender,
    PinnerSageRecommender,
    PinnerSageRecommenderConfig,
    PopularityRecommender,
)
from models.co_engagement import CoEngagementConfig
from models.evaluation import (
    INTERACTIONS,
    KS,
    MIN_INTERACTIONS,
    NDCG_K,
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
    return importlib.import_module("models.pinsage").PinSageRecommender()


def _pinnerformer(name: str, objective: str, size: str) -> Factory:
    """PinnerFormer with ``objective`` at one of the module's ``SIZES``, reporting each epoch."""

    def build(progress: Progress) -> Recommender:
        module = importlib.import_module("models.pinnerformer")  # only when asked for
        config = module.PinnerFormerConfig(objective=objective, **module.SIZES[size])

        def on_epoch(epoch: int, loss: float, recall: float) -> None:
            progress(f"{name}: epoch {epoch} loss {loss:.4f} validation recall@10 {recall:.4f}")

        return module.PinnerFormerRecommender(config, name=name, on_epoch=on_epoch)

    return build


_PINNERFORMER = _pinnerformer("pinnerformer", "dense_all_action", "base")

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
    "pinnerformer": _PINNERFORMER,
}

# The PinnerFormer ablation: three objectives at two sizes. The default one is the same factory as
# "pinnerformer", so it is trained once.
ABLATIONS: dict[str, Factory] = {
    f"pinnerformer_{objective}_{size}": (
        _PINNERFORMER
        if (objective, size) == ("dense_all_action", "base")
        else _pinnerformer(f"pinnerformer_{objective}_{size}", objective, size)
    )
    for objective, size in product(("next_action", "dense_next_action", "dense_all_action"), ("small", "base"))
}
MODEL_NAMES = (*MODELS, *ABLATIONS)


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
    done: dict[Factory, dict[str, Any]] = {}
    for name in names:
        factory = ABLATIONS.get(name) or MODELS[name]
        if factory not in done:
            try:
                model = factory(progress)
            except ImportError as error:
                report["skipped"][name] = f"not available: {error}"
                progress(f"{name}: skipped ({error})")
                continue
            done[factory] = _run(name, model, split, progress)
        run = done[factory]
        report["ablations" if name in ABLATIONS else "results"][name] = run["test"]
        report["validation"][name] = run["validation"]
        report["seconds"][name] = run["seconds"]
        report["configs"][name] = run["config"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_report(report))
    return report


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


def markdown_report(report: dict[str, Any]) -> str:
    """The report's test metrics as Markdown tables (results, then ablations), with skipped models."""
    protocol = report["protocol"]
    lines = [
        f"# Evaluation on {protocol['dataset']}",
        "",
        f"{protocol['users']} users, {protocol['items']} items; test item per user, all items ranked, "
        "history excluded; seconds = fit + score.",
        "",
        *_table(report["results"], report),
    ]
    if report["ablations"]:
        lines += ["", "## Ablations", "", *_table(report["ablations"], report)]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {name}: {reason}" for name, reason in report["skipped"].items()]
    return "\n".join(lines) + "\n"
