"""Per-step seconds and peak memory of a materialization, and their growth exponents."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance, asset, materialize

from corkboard.bench.asset_profile import GIB, growth_exponents, sampled_memory, step_costs
from corkboard.cli import main

HELD_BYTES = 400 * 2**20


@asset
def small_step() -> int:
    return 1


@asset
def big_step(small_step: int) -> int:
    held = np.ones(HELD_BYTES // 8)  # touched, so resident
    return int(held[-1]) + small_step


def test_each_step_gets_its_own_seconds_and_peak_memory():
    instance = DagsterInstance.ephemeral()
    with sampled_memory(interval_s=0.005, pss_interval_s=0.005) as samples:
        result = materialize([small_step, big_step], instance=instance)
    costs = step_costs(instance, [result.run_id], samples)
    assert set(costs) == {"small_step", "big_step"}
    assert all(cost["seconds"] >= 0 for cost in costs.values()) and costs["big_step"]["seconds"] > 0
    for measure in ("peak_rss_gib", "peak_pss_gib"):
        assert costs["big_step"][measure] - costs["small_step"][measure] > 0.5 * HELD_BYTES / GIB


def test_the_proportional_sizes_are_read_less_often_than_the_resident_ones():
    """Reading PSS walks each process's page tables: it is sampled once every ``pss_interval_s``."""
    with sampled_memory(interval_s=0.005, pss_interval_s=0.2) as samples:
        time.sleep(0.7)
    assert len(samples.rss) == len(samples.times["rss"]) > 5
    if samples.has_pss:
        assert 2 <= len(samples.pss) == len(samples.times["pss"]) <= 5
        assert np.all(np.diff(samples.times["pss"]) >= 0.2)


# Run in a process of its own, whose only children are the ones it starts: the test session's own
# children (servers, Ray) come and go.
SAMPLE_A_CHILD = f"""
import subprocess, sys, time
from corkboard.bench.asset_profile import sampled_memory
holds = "import numpy, time; held = numpy.ones({HELD_BYTES // 8}); print(flush=True); time.sleep(30)"
with sampled_memory(interval_s=0.005, pss_interval_s=0.005) as samples:
    time.sleep(0.05)
    child = subprocess.Popen([sys.executable, "-c", holds], stdout=subprocess.PIPE)
    child.stdout.readline()  # the child holds its memory now
    time.sleep(0.1)
    child.kill()
    child.wait()
    time.sleep(0.05)
for sizes in (samples.rss, samples.pss):
    print(sizes[0], max(sizes), sizes[-1])
"""


def test_the_samples_count_what_a_child_process_holds():
    result = subprocess.run([sys.executable, "-c", SAMPLE_A_CHILD], capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()[-2:]
    assert len(lines) == 2, result.stderr
    for line in lines:  # resident, then proportional
        first, peak, last = map(int, line.split())
        assert peak - first > 0.5 * HELD_BYTES
        assert abs(last - first) < 0.5 * HELD_BYTES  # gone with the child


# A parent holding memory forks a child that only maps it: the resident sizes count the pages twice,
# the proportional ones once.
SAMPLE_A_FORKED_CHILD = f"""
import os, time
import numpy
from corkboard.bench.asset_profile import sampled_memory
held = numpy.ones({HELD_BYTES // 8})
with sampled_memory(interval_s=0.005, pss_interval_s=0.005) as samples:
    time.sleep(0.05)
    child = os.fork()
    if child == 0:
        time.sleep(0.3)
        os._exit(0)
    time.sleep(0.2)
    os.waitpid(child, 0)
print(samples.peak("rss") - samples.rss[0], samples.peak("pss") - samples.pss[0])
"""


def test_pages_a_forked_child_shares_count_once_in_the_proportional_sum():
    result = subprocess.run([sys.executable, "-c", SAMPLE_A_FORKED_CHILD], capture_output=True, text=True, timeout=120)
    rss_rise, pss_rise = map(int, result.stdout.split()[-2:])
    assert rss_rise > 0.9 * HELD_BYTES  # the child's resident size counts the parent's pages again
    assert pss_rise < 0.1 * HELD_BYTES


def test_growth_exponents_recover_a_power_law():
    events = {"tiny": 1_000, "demo": 10_000, "large": 100_000}
    costs = {
        world: {"linear": 0.01 * n, "quadratic": 1e-6 * n**2, "flat": 3.0, "one_world": 1.0 if world == "tiny" else 0}
        for world, n in events.items()
    }
    exponents = growth_exponents(events, costs)
    assert exponents["linear"] == pytest.approx(1.0)
    assert exponents["quadratic"] == pytest.approx(2.0)
    assert exponents["flat"] == pytest.approx(0.0)
    assert "one_world" not in exponents  # one point has no slope


def test_the_growth_command_tabulates_each_steps_cost_and_exponents(tmp_path: Path, capsys):
    def profile(world: str, events: int) -> Path:
        steps = {"linear": {"seconds": events / 100, "peak_rss_gib": 1.0}}
        if world == "tiny":
            steps["gone_later"] = {"seconds": 2.0, "peak_rss_gib": 1.0}
        path = tmp_path / f"{world}.json"
        path.write_text(json.dumps({"world": world, "events": events, "steps": steps}))
        return path

    assert main(["growth", str(profile("tiny", 1_000)), str(profile("demo", 100_000))]) == 0
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in capsys.readouterr().out.splitlines()]
    rows = {row[0]: row for row in cells}
    assert rows["linear"] == ["linear", "10.00", "1000.00", "1.00", "0.00"]
    assert rows["gone_later"] == ["gone_later", "2.00", "", "", ""]  # one world: no exponent
    with pytest.raises(ValueError, match="one profile per world"):
        main(["growth", str(profile("tiny", 1_000)), str(profile("tiny", 1_000))])
