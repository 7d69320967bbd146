"""The all-action comparison of `corkboard evaluate --seeds` (docs/evaluation.md, "All-action
recall@100"): PinnerFormer's candidates train at each seed, and the ratio's mean is over the seeds."""

from __future__ import annotations

import pytest

from core.sources import load_world
from corkboard.evaluate.all_action import all_action_over_seeds
from corkboard.evaluate.report import markdown_report, new_report


def test_the_all_action_block_reports_each_seed_and_their_mean():
    world, _ = load_world("tiny")
    block = all_action_over_seeds(world, "tiny", seeds=[0, 1], progress=lambda _: None)

    first, second = block["per_seed"]
    assert block["seeds"] == [0, 1] and (first["seed"], second["seed"]) == (0, 1)
    assert first["pinnerformer_config"].endswith("seed=0)") and second["pinnerformer_config"].endswith("seed=1)")
    assert block["ratio"] == first["ratio"] == pytest.approx(first["pinnerformer"] / first["pinnersage"])
    assert block["ratio_mean"] == pytest.approx((first["ratio"] + second["ratio"]) / 2)
    assert block["ratio_std"] == pytest.approx(abs(first["ratio"] - second["ratio"]) / 2**0.5)
    report = new_report({"dataset": "tiny", "users": 0, "items": 0}, seeds=[0, 1])
    assert f"mean {block['ratio_mean']:.3f}" in markdown_report({**report, "all_action": block})
