"""``corkboard evaluate``: fit each asked-for model on the split without its test items, score the
validation and test items, and write the report.

Models may use the validation item for early stopping and model choice; test metrics are computed
here, once per model.
"""

from __future__ import annotations

import time
from pathlib import Path

from corkboard.evaluate.all_action import WINDOW_DAYS as ALL_ACTION_WINDOW_DAYS
from corkboard.evaluate.all_action import all_action_report
from corkboard.evaluate.builders import Progress
from corkboard.evaluate.registry import ABLATIONS, CHOSEN_FROM, MODEL_NAMES, build_model
from corkboard.evaluate.report import METRICS, Report, Run, add_run, describe_protocol, new_report, write_report
from core.sources import load_world
from models.leave_last_out import (
    NDCG_K,
    EvaluationSplit,
    Recommender,
    evaluate_recommender,
    first_interactions,
    split_world,
)

DATASETS = ("ml100k", "tiny", "demo")


def evaluate(dataset: str, out: Path, *, models: list[str] | None = None, progress: Progress = print) -> Report:
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
    report = new_report(describe_protocol(dataset, split, first_interactions(world.events)["user_id"].nunique()))
    progress(f"{dataset}: {split.n_users} users, {split.n_items} items")
    runs: dict[str, Run | str] = {}  # a run, or why it was skipped

    def run(name: str) -> Run | str:
        if name not in runs:
            try:
                runs[name] = fit_and_score(name, build_model(name, progress), split, progress)
            except ImportError as error:  # a learned model's module, imported when built or fitted
                progress(f"{name}: skipped ({error})")
                runs[name] = f"not available: {error}"
        return runs[name]

    for name in names:
        chosen_from = CHOSEN_FROM.get(name)
        result = run(name) if chosen_from is None else best_on_validation({c: run(c) for c in chosen_from})
        add_run(report, name, result, ablation=name in ABLATIONS)
    if dataset in ALL_ACTION_WINDOW_DAYS and {"pinnerformer", "pinnersage"} <= set(names):
        report["all_action"] = all_action_report(world, dataset, progress)
    write_report(report, out)
    return report


def fit_and_score(name: str, model: Recommender, split: EvaluationSplit, progress: Progress) -> Run:
    """Fit on the split without test items, then validation and test metrics and timings."""
    progress(f"{name}: fitting")
    started = time.perf_counter()
    model.fit(split.without_test())
    fitted = time.perf_counter()
    validation = evaluate_recommender(model, split, "validation")
    test = evaluate_recommender(model, split, "test")
    seconds = {"fit": fitted - started, "score": time.perf_counter() - fitted}
    config = getattr(model, "config", None)
    config_text = None if config is None else repr(config)
    progress(
        f"{name}: fit {seconds['fit']:.1f}s, score {seconds['score']:.1f}s; "
        + ", ".join(f"{metric} {test[metric]:.4f}" for metric in METRICS)
    )
    return {"validation": validation, "test": test, "seconds": seconds, "config": config_text}


def best_on_validation(candidates: dict[str, Run | str]) -> Run | str:
    """The candidate run with the best validation ndcg@10 (the first on ties), its seconds being
    all candidates' (the cost of the choice); why all were skipped if none ran."""
    ran = {candidate: result for candidate, result in candidates.items() if not isinstance(result, str)}
    if not ran:
        return f"no candidate ran: {next(iter(candidates.values()), 'none registered')}"
    best = max(ran, key=lambda candidate: ran[candidate]["validation"][f"ndcg@{NDCG_K}"])
    seconds = {part: sum(result["seconds"][part] for result in ran.values()) for part in ("fit", "score")}
    return {**ran[best], "seconds": seconds, "config": f"{best}: {ran[best]['config']}", "chosen": best}
