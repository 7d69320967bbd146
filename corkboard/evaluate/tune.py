"""``corkboard evaluate --tune``: every setting of each model's grid, fitted with the test items hidden
and compared on the validation items only; the best of each model goes to the tuned file."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from corkboard.evaluate.builders import Progress
from corkboard.evaluate.grids import settings
from corkboard.evaluate.registry import MODELS, entry
from corkboard.evaluate.training_record import training_record
from corkboard.evaluate.tuned import TUNED_DIR, TunedModel, read_tuned, record_tuned
from core.sources import load_world
from models.leave_last_out import NDCG_K, evaluate_recommender, split_world

TUNING_SEED = 0


def tune(
    dataset: str, *, models: Sequence[str] | None = None, folder: Path = TUNED_DIR, progress: Progress = print
) -> dict[str, TunedModel]:
    """Tune ``models`` (default: every registered model but the ablations) on ``dataset`` at seed 0.

    Each setting's figures are written to the tuned file as soon as it is fitted, so a stopped run
    loses at most the setting in progress: a later run keeps what was measured and fits only the
    settings not yet there. The entry's ``setting`` is the best so far and ``complete`` says whether
    every setting of the grid was tried. No test item is seen or scored: the split is hidden before
    any model is built."""
    names = list(models) if models is not None else list(MODELS)
    for name in names:
        entry(name)  # unknown names fail before any fitting
    world, _ = load_world(dataset)
    split = split_world(world).without_test()
    chosen: dict[str, TunedModel] = {}
    for name in names:
        grid = settings(entry(name).grid)
        earlier = read_tuned(dataset, folder).get(name, {}).get("candidates", [])
        candidates = [candidate for candidate in earlier if candidate["setting"] in grid]
        for number, setting in enumerate(grid, 1):
            if any(candidate["setting"] == setting for candidate in candidates):
                progress(f"tune {name}: setting {number}/{len(grid)} {setting} measured earlier")
                continue
            progress(f"tune {name}: setting {number}/{len(grid)} {setting}")
            model = entry(name).build(name, setting, TUNING_SEED, progress)
            started = time.perf_counter()
            model.fit(split)
            validation = evaluate_recommender(model, split, "validation")
            seconds = time.perf_counter() - started
            candidates.append({"setting": setting, "validation": validation, **training_record(model), "seconds": seconds})
            progress(f"tune {name}: validation ndcg@{NDCG_K} {validation[f'ndcg@{NDCG_K}']:.4f} in {seconds:.0f}s")
            chosen[name] = _tuned_entry(candidates, complete=len(candidates) == len(grid))
            record_tuned(dataset, name, chosen[name], folder)
        chosen[name] = _tuned_entry(candidates, complete=True)
        path = record_tuned(dataset, name, chosen[name], folder)
        progress(f"tune {name}: chose {chosen[name]['setting']} of {len(grid)}; written to {path}")
    return chosen


def _tuned_entry(candidates: list[dict], *, complete: bool) -> TunedModel:
    """The tuned file's entry for a model whose ``candidates`` were measured: the best on validation
    ndcg@10 (the first on ties), every candidate's figures and the seconds they took together."""
    best = max(candidates, key=lambda candidate: candidate["validation"][f"ndcg@{NDCG_K}"])
    return {
        "setting": best["setting"],
        "validation": best["validation"],
        "best_epoch": best["best_epoch"],
        "seed": TUNING_SEED,
        "seconds": sum(candidate["seconds"] for candidate in candidates),
        "complete": complete,
        "candidates": candidates,
    }
