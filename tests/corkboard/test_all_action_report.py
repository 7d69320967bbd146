"""The all-action comparison of `corkboard evaluate` (docs/evaluation.md, "All-action recall@100"):
PinnerFormer's candidates train at the seed asked for, and the ratio is of the reported recalls."""

from __future__ import annotations

import pytest

from core.sources import load_world
from corkboard.evaluate.all_action import RECALL, all_action_report


def test_the_all_action_block_trains_pinnerformer_at_the_given_seed():
    world, _ = load_world("tiny")
    report = all_action_report(world, "tiny", progress=lambda _: None, seed=1)
    results = report["results"]
    assert results["pinnerformer"]["config"].endswith("seed=1)")
    assert report["ratio"] == pytest.approx(results["pinnerformer"][RECALL] / results["pinnersage"][RECALL])
