"""``corkboard evaluate --funnel``: the path ``corkboard serve`` runs, judged on held-out items.

Each sampled user's last interaction is held out (the offline protocol's test item) and cut from
the world with everything that would reveal it; the rest is materialized through the whole Dagster
asset graph in the funnel's own data dir; then every held-out user is served a home feed by the
service's own functions at pinner-only weights, and the held-out item is looked for in each
source's candidates, the ranked candidates and the page, beside the served models' full ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corkboard.evaluate.funnel_data import QUALITY_BUDGETS, funnel_data_dir, funnel_settings, materialized_world
from corkboard.evaluate.funnel_offline import ServedModels
from corkboard.evaluate.funnel_outcome import UserOutcome, outcome_of
from corkboard.evaluate.funnel_report import funnel_figures, write_funnel_report
from corkboard.evaluate.funnel_serving import PAGE_K, PINNER_ONLY, served_request
from corkboard.evaluate.funnel_world import SAMPLE_SEED, SAMPLED_USERS, HeldOut, hold_out
from core.settings import Settings, get_settings
from core.sources import load_world
from models.leave_last_out import INTERACTIONS
from service.app import RANKER_THREADS
from service.serving_state import ServingState
from service.state_loading import open_serving_state

Progress = Callable[[str], None]


def run_funnel(
    dataset: str, out: Path, *, validation: bool = False, settings: Settings | None = None, progress: Progress = print
) -> dict[str, Any]:
    """Hold out, materialize (or reuse), serve every held-out user, and write ``out`` and its .md.

    With ``validation`` the cut world is cut once more, so the held-out items are the protocol's
    validation items and the test items stay unseen: the stage to choose serving settings on (the
    PinSAGE prior's weight), in a data dir of its own."""
    settings = settings or get_settings()
    started = time.perf_counter()
    world, _ = load_world(dataset)
    cut_world, held = hold_out(world, dataset)
    if validation:
        cut_world, held = hold_out(cut_world, dataset, among=held.user_ids)
    stage = "validation" if validation else "test"
    progress(f"funnel {dataset} ({stage} items): {len(held)} held-out users; cut {held.removed}")
    folder = funnel_data_dir(settings.data_dir, f"{dataset}-validation" if validation else dataset)
    materialize_seconds, stop_database = materialized_world(cut_world, folder, progress)
    try:
        state = open_serving_state(funnel_settings(settings, folder))
        serving_started = time.perf_counter()
        outcomes = serve_held_out(state, held, progress)
        serve_seconds = time.perf_counter() - serving_started
    finally:
        stop_database()
    report = {
        "protocol": {**_protocol(dataset, held, folder, state), "held_out_stage": stage},
        **funnel_figures(outcomes, state.settings.prior_weights),
        "seconds": {
            "materialize": materialize_seconds, "serve": serve_seconds, "total": time.perf_counter() - started,
        },
    }
    write_funnel_report(report, out)
    return report


def serve_held_out(state: ServingState, held: HeldOut, progress: Progress) -> list[UserOutcome]:
    """Each held-out user's outcome, with torch on the service's threads; one unmeasured request
    first, so compiling and warming caches is not timed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(RANKER_THREADS)
    try:
        served_request(state, int(held.user_ids[0]))
        models = ServedModels.of(state)
        target_rows = state.vectors.model.pin_rows(held.pin_ids)
        outcomes = []
        for index, user_id in enumerate(held.user_ids.tolist()):
            served = served_request(state, user_id)
            history_rows = state.vectors.model.pin_rows(held.history[index])
            history_rows = history_rows[history_rows >= 0]
            target = int(target_rows[index])
            ranks = models.ranks(state, served.user, target, history_rows)
            outcomes.append(outcome_of(served, target, history_rows, ranks))
            if (index + 1) % 200 == 0:
                progress(f"funnel: served {index + 1} of {len(held)} held-out users")
    finally:
        torch.set_num_threads(threads)
    return outcomes


def _protocol(dataset: str, held: HeldOut, folder: Path, state: ServingState) -> dict[str, Any]:
    """What the figures mean, written into the report."""
    sample = SAMPLED_USERS.get(dataset)
    return {
        "dataset": dataset,
        "users": len(held),
        "sample": f"a fixed sample (seed {SAMPLE_SEED}) of the eligible users" if sample else "every eligible user",
        "held_out": f"each user's last first {'/'.join(INTERACTIONS)} of a pin by time, ties by pin id "
        "(models/leave_last_out.py's test item); users with fewer than 3 interactions are not eligible",
        "cut": "the user's events at or after the held-out interaction's time (other interactions in that second too), "
        "their impressions of the held-out pin, and their own boards' edges saved from then on or holding that pin",
        "removed": held.removed,
        "materialized": f"every asset of the Dagster graph (corkboard materialize) on the cut world, in {folder}",
        "served": "request_context -> home_candidates -> scored_candidates -> assemble_page (service/), "
        f"weights {PINNER_ONLY.values}, page of {PAGE_K}; database budgets {QUALITY_BUDGETS}",
        "page_k": PAGE_K,
        "models": "served models ranking every pin by exact cosine with the vectors their sources search by "
        "HNSW (embedding: co-engagement user vector; two_tower: the user tower on request, pins as its pgvector "
        "version holds them; pinsage: recency-weighted mean of the user's latest pins), the user's protocol history "
        "excluded, ties pessimistic",
        "model_versions": state.model_versions,
        "median_history_length": float(np.median([len(items) for items in held.history])),
    }
