"""``corkboard evaluate``: each asked-for model at its tuned setting, trained once per seed on the split
without its test items, then scored on the validation and test items; the report gives the mean and
standard deviation over seeds.

Models may use the validation item for early stopping (and, for a model that was never tuned, for the
choice of its setting in this run); test metrics are computed here, once per model and seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from corkboard.evaluate.all_action import WINDOW_DAYS as ALL_ACTION_WINDOW_DAYS
from corkboard.evaluate.all_action import all_action_over_seeds
from corkboard.evaluate.builders import Progress
from corkboard.evaluate.grids import Setting, settings
from corkboard.evaluate.registry import ABLATIONS, MODEL_NAMES, MODELS, Entry, entry
from corkboard.evaluate.report import METRICS, Report, Run, add_runs, describe_protocol, new_report, write_report
from corkboard.evaluate.training_record import training_record
from corkboard.evaluate.tuned import TUNED_DIR, read_tuned, tuned_path, tuned_setting
from core.sources import load_world
from models.leave_last_out import (
    ChosenOnValidation,
    EvaluationSplit,
    Recommender,
    evaluate_recommender,
    first_interactions,
    split_world,
)

DATASETS = ("ml100k", "tiny", "demo")


def evaluate(
    dataset: str,
    out: Path,
    *,
    models: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    tuned_folder: Path = TUNED_DIR,
    progress: Progress = print,
) -> Report:
    """Evaluate ``models`` (default: every registered model but the ablations) on ``dataset`` once per
    seed; write ``out`` (JSON) and its .md. A learned model whose module cannot be imported is listed
    under ``skipped`` with the reason."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    names = list(models) if models is not None else list(MODELS)
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected some of {MODEL_NAMES}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
    world, _ = load_world(dataset)
    split = split_world(world)
    report = new_report(describe_protocol(dataset, split, first_interactions(world.events)["user_id"].nunique()), seeds)
    progress(f"{dataset}: {split.n_users} users, {split.n_items} items, seeds {list(seeds)}")
    tuned = read_tuned(dataset, tuned_folder)
    for name in names:
        setting, chosen_by = _chosen_setting(name, entry(name), tuned, tuned_path(dataset, tuned_folder))
        runs: list[Run] = []
        try:
            for seed in seeds:
                model = _model(name, entry(name), setting, seed, progress)
                runs.append(fit_and_score(f"{name} (seed {seed})", model, split, progress))
        except ImportError as error:  # a learned model's module, imported when built or fitted
            progress(f"{name}: skipped ({error})")
            add_runs(report, name, f"not available: {error}", ablation=name in ABLATIONS)
            continue
        add_runs(report, name, runs, ablation=name in ABLATIONS, setting=setting, chosen_by=chosen_by)
    if dataset in ALL_ACTION_WINDOW_DAYS and {"pinnerformer", "pinnersage"} <= set(names):
        report["all_action"] = all_action_over_seeds(world, dataset, seeds, progress)
    write_report(report, out)
    return report


def _chosen_setting(name: str, registered: Entry, tuned: dict, tuned_file: Path) -> tuple[Setting | None, str]:
    """The setting to train ``name`` at and how it was chosen; None when the grid is to be searched now."""
    candidates = settings(registered.grid)
    chosen = tuned_setting(tuned, name)
    if chosen is not None:
        measured = len(tuned[name].get("candidates", []))
        if tuned[name].get("complete", True):
            return chosen, f"tuned ({tuned_file.name})"
        return chosen, f"tuned so far ({tuned_file.name}: the best of {measured} of {len(candidates)} settings)"
    if len(candidates) == 1:
        return candidates[0], "its only setting"
    return None, f"validation, in this run (not in {tuned_file.name}): best of {len(candidates)} settings"


def _model(name: str, registered: Entry, setting: Setting | None, seed: int, progress: Progress) -> Recommender:
    """``name`` at ``setting`` and ``seed``, unfitted; without a setting, the best of its grid on validation."""
    if setting is not None:
        return registered.build(name, setting, seed, progress)
    builds = [partial(registered.build, name, candidate, seed, progress) for candidate in settings(registered.grid)]
    return ChosenOnValidation(name, builds)


def fit_and_score(label: str, model: Recommender, split: EvaluationSplit, progress: Progress) -> Run:
    """Fit on the split without test items, then validation and test metrics, timings and the training record."""
    progress(f"{label}: fitting")
    started = time.perf_counter()
    model.fit(split.without_test())
    fitted = time.perf_counter()
    validation = evaluate_recommender(model, split, "validation")
    test = evaluate_recommender(model, split, "test")
    seconds = {"fit": fitted - started, "score": time.perf_counter() - fitted}
    config = getattr(model, "config", None)
    progress(
        f"{label}: fit {seconds['fit']:.1f}s, score {seconds['score']:.1f}s; "
        + ", ".join(f"{metric} {test[metric]:.4f}" for metric in METRICS)
    )
    return {
        "validation": validation,
        "test": test,
        "seconds": seconds,
        "config": None if config is None else repr(config),
        **training_record(model),
    }
