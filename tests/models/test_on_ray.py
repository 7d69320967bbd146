"""The heavy steps on a local Ray cluster of 2 workers give what they give in one process: the text
tower's vectors of every tiny pin (Ray Data) and a two-tower trained by Ray Train (DDP over gloo)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from core.sources import load_world
from models.leave_last_out import evaluate_recommender
from models.text_tower import TextTower, TextTowerConfig, embed_texts, pin_texts
from models.two_tower import TwoTowerRecommender
from models.two_tower.world_training import fit_here
from tests.models.test_two_tower import FAST, planted_split

ray = pytest.importorskip("ray", reason="ray is not installed")
WORKERS = 2


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray cluster with a CPU for each of the 2 workers."""
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_batch_inference_on_ray_gives_the_in_process_vectors(local_ray: None) -> None:
    from models.on_ray.batch_inference import map_rows

    texts = np.array(pin_texts(load_world("tiny")[0].pins.sort_values("pin_id")), dtype=object)
    model = TextTower(TextTowerConfig(buckets=2**14, hidden=32, dim=16))
    here = embed_texts(model, list(texts))

    on_ray = map_rows(partial(embed_texts, model), texts, workers=WORKERS, batch_size=64)

    assert on_ray.shape == here.shape == (len(texts), 16)
    np.testing.assert_allclose(on_ray, here, rtol=0, atol=1e-6)


def test_two_tower_trained_by_two_ray_workers_matches_one_process(local_ray: None, tmp_path: Path) -> None:
    from models.on_ray.two_tower import RayTrainFit

    split, countries = planted_split()
    config = dataclasses.replace(FAST, epochs=4, patience=4)
    alone = fit_here(TwoTowerRecommender(config, user_features=countries), split.without_test())
    epochs: list[int] = []
    distributed = RayTrainFit(workers=WORKERS, storage=tmp_path / "ray")(
        TwoTowerRecommender(config, user_features=countries, on_epoch=lambda epoch, *_: epochs.append(epoch)),
        split.without_test(),
    )

    assert epochs == list(range(1, len(distributed.history.train_loss) + 1))
    assert any((tmp_path / "ray").rglob("two_tower.safetensors")), "no checkpoint in the artifact store"
    ours, theirs = (evaluate_recommender(r, split, "validation", ks=(10,))["recall@10"] for r in (distributed, alone))
    assert ours == pytest.approx(theirs, rel=0.10), (ours, theirs)
    assert max(distributed.history.validation) == pytest.approx(ours)
