"""Worlds shared by the source tests; each is built once per session."""

from __future__ import annotations

import pytest

from core.sources.movielens import load_movielens_100k
from core.sources.synthetic import generate_world_with_truth
from core.sources.truth import PlantedTruth
from core.world import World


@pytest.fixture(scope="session")
def tiny_with_truth() -> tuple[World, PlantedTruth]:
    return generate_world_with_truth("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny(tiny_with_truth: tuple[World, PlantedTruth]) -> World:
    return tiny_with_truth[0]


@pytest.fixture(scope="session")
def movielens() -> World:
    return load_movielens_100k()
