"""Seconds and peak memory of each asset step of a materialization, and how they grow with the world.

A background thread samples the memory of this process and of its children (the steps that
``corkboard.materialize`` runs in processes of their own), summed, and each step's peak is the
highest sample between its start and end times in Dagster's step stats. Two sums are kept: the
resident sizes (RSS: a page that several processes map counts once in each, so forked step
processes count the libraries they share with their parent again) and the proportional sizes
(PSS, where the platform gives it: a page shared by n processes counts 1/n in each, so the sum is
what the processes hold together).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psutil
from dagster import DagsterInstance

from corkboard.materialize import Progress, dagster_instance, materialize_world

GIB = 2**30
MEASURES = ("rss", "pss")


# Reading a process's proportional size walks its page tables: about 4.6 ms of CPU per GiB resident
# (21 ms for a 4.5 GiB step process), 61-78 ms a sweep over the 25 processes of a large run on Ray,
# where their resident sizes took 0.2 ms. Read as often as those (every 0.05 s), the sweeps took about
# a third of a core from the steps they measured; once a second, under a tenth.
PSS_INTERVAL_S = 1.0


class MemorySamples:
    """(wall time, bytes) samples of this process and its children together: the resident sizes
    every ``interval_s``, the proportional ones every ``pss_interval_s`` (they cost far more to
    read), while open; ``has_pss`` False where the platform has no PSS."""

    def __init__(self, interval_s: float = 0.05, pss_interval_s: float = PSS_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.pss_interval_s = pss_interval_s
        self.has_pss = hasattr(psutil.Process().memory_full_info(), "pss")
        self.times: dict[str, list[float]] = {measure: [] for measure in MEASURES}
        self.rss: list[int] = []
        self.pss: list[int] = []
        self._stop = threading.Event()

    def _sample(self) -> None:
        process = psutil.Process()
        next_pss = 0.0
        while not self._stop.is_set():
            processes = (process, *process.children(recursive=True))
            now = time.time()
            self.rss.append(sum(_resident(one) for one in processes))
            self.times["rss"].append(now)
            if self.has_pss and now >= next_pss:
                self.pss.append(sum(_proportional(one) for one in processes))
                self.times["pss"].append(now)
                next_pss = now + self.pss_interval_s
            self._stop.wait(self.interval_s)

    def peak(self, measure: str) -> int | None:
        """The highest sum of ``measure`` (``MEASURES``) sampled; None when it was not measured."""
        values = self._values(measure)
        return max(values) if values else None

    def peak_between(self, start: float, end: float, measure: str) -> int | None:
        """The highest sum of ``measure`` sampled from ``start`` to ``end`` (wall seconds); 0 when no
        sample was taken then, None when ``measure`` was not measured."""
        values = self._values(measure)
        if not values:
            return None
        times = np.asarray(self.times[measure][: len(values)])  # the sampler may be between a value and its time
        inside = (times >= start) & (times <= end)
        return int(np.asarray(values[: len(times)])[inside].max()) if inside.any() else 0

    def _values(self, measure: str) -> list[int]:
        if measure not in MEASURES:
            raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")
        return [] if measure == "pss" and not self.has_pss else getattr(self, measure)


def _resident(process: psutil.Process) -> int:
    """``process``'s resident bytes; 0 once it has exited."""
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def _proportional(process: psutil.Process) -> int:
    """``process``'s proportional bytes; 0 once it has exited."""
    try:
        return process.memory_full_info().pss
    except psutil.NoSuchProcess:
        return 0


@contextmanager
def sampled_memory(interval_s: float = 0.05, pss_interval_s: float = PSS_INTERVAL_S) -> Iterator[MemorySamples]:
    """Sample the memory of this process and its children on a daemon thread for the duration of
    the block (``MemorySamples``)."""
    samples = MemorySamples(interval_s, pss_interval_s)
    thread = threading.Thread(target=samples._sample, name="memory-sampler", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        samples._stop.set()
        thread.join()


def _gib(value: int | None) -> float | None:
    return None if value is None else round(value / GIB, 3)


def step_costs(
    instance: DagsterInstance, run_ids: Sequence[str], samples: MemorySamples
) -> dict[str, dict[str, float | None]]:
    """Per finished step of ``run_ids`` (asset steps are named after their asset): wall seconds from
    its start to its end (Dagster's step stats) and the peak resident and proportional GiB in
    between (of every step running then, with the process that runs them)."""
    costs: dict[str, dict[str, float | None]] = {}
    for run_id in run_ids:
        for step in instance.get_run_step_stats(run_id):
            if step.start_time is not None and step.end_time is not None:
                costs[step.step_key] = {
                    "seconds": round(step.end_time - step.start_time, 2),
                    **{
                        f"peak_{measure}_gib": _gib(samples.peak_between(step.start_time, step.end_time, measure))
                        for measure in MEASURES
                    },
                }
    return costs


def profiled_materialization(world: str, *, progress: Progress = print) -> dict[str, Any]:
    """``materialize_world(world)``, reported: its event count, wall seconds, the peak resident and
    proportional GiB of this process and its step processes together, and each step's ``step_costs``."""
    started = time.perf_counter()
    with sampled_memory() as samples:
        done = materialize_world(world, progress=progress)
    return {
        "world": world,
        "events": done.events,
        "seconds": round(time.perf_counter() - started, 1),
        **{f"peak_{measure}_gib": _gib(samples.peak(measure)) for measure in MEASURES},
        "steps": step_costs(dagster_instance(), done.run_ids, samples),
    }


def growth_exponents(events: Mapping[str, int], costs: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The least-squares slope of log(cost) on log(events) over worlds: ``events`` world -> event
    count, ``costs`` world -> step -> value. A step needs a positive value in at least two worlds of
    different sizes; 1.0 is linear growth."""
    steps = sorted({step for world in costs.values() for step in world})
    exponents = {}
    for step in steps:
        points = [(events[w], costs[w][step]) for w in costs if costs[w].get(step, 0) > 0 and w in events]
        sizes = np.log([size for size, _ in points])
        if len(points) >= 2 and np.ptp(sizes) > 0:
            exponents[step] = round(float(np.polyfit(sizes, np.log([value for _, value in points]), 1)[0]), 2)
    return exponents


def growth_table(profiles: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: per step of ``profiles`` (``profiled_materialization`` reports of several worlds),
    its seconds and peak GiB in each world and the ``growth_exponents`` of both with the events."""
    worlds = [profile["world"] for profile in profiles]
    if len(set(worlds)) != len(worlds):
        raise ValueError(f"one profile per world, got {worlds}")
    events = {profile["world"]: profile["events"] for profile in profiles}
    costs = {measure: _step_values(profiles, measure) for measure in ("seconds", "peak_rss_gib")}
    exponents = {measure: growth_exponents(events, by_world) for measure, by_world in costs.items()}
    header = [f"{world} s ({events[world]:,} events)" for world in worlds]
    lines = [
        "| step | " + " | ".join(header) + " | seconds exponent | peak GiB exponent |",
        "| --- |" + " ---: |" * (len(worlds) + 2),
    ]
    for step in sorted({step for profile in profiles for step in profile["steps"]}):
        seconds = [costs["seconds"][world].get(step) for world in worlds]
        cells = ["" if value is None else f"{value:.2f}" for value in seconds]
        growth = [exponents[measure].get(step) for measure in ("seconds", "peak_rss_gib")]
        cells += ["" if value is None else f"{value:.2f}" for value in growth]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _step_values(profiles: Sequence[Mapping[str, Any]], measure: str) -> dict[str, dict[str, float]]:
    """World -> step -> the step's ``measure`` in that world's profile."""
    return {profile["world"]: {step: cost[measure] for step, cost in profile["steps"].items()} for profile in profiles}
