"""The heavy steps on a local Ray cluster of 2 workers give what they give in one process: the text
tower's vectors of every tiny pin (Ray Data) and a two-tower trained by Ray Train (DDP over gloo)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import psutil
import pytest

from core.sources import load_world
from models.leave_last_out import evaluate_recommender
from models.text_tower import TextTower, TextTowerConfig, embed_texts, pin_texts
from models.two_tower import TwoTowerRecommender
from models.two_tower.world_training import fit_here
from tests.models.test_two_tower import FAST, planted_split

ray = pytest.importorskip("ray", reason="ray is not installed")
cloudpickle = pytest.importorskip("ray.cloudpickle", reason="ray is not installed")
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


class DiesOnce:
    """``function``, except that the first call anywhere (``marker`` does not exist yet) ends its
    process first, as a worker lost mid-job."""

    def __init__(self, function: Callable[[np.ndarray], np.ndarray], marker: Path) -> None:
        self.function, self.marker = function, marker

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if not self.marker.exists():
            self.marker.touch()
            os._exit(1)
        return self.function(rows)


def test_a_batch_inference_worker_lost_mid_job_is_replaced_and_its_rows_redone(
    local_ray: None, tmp_path: Path
) -> None:
    from models.on_ray.batch_inference import map_rows

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    texts = np.array(pin_texts(load_world("tiny")[0].pins.sort_values("pin_id")), dtype=object)
    model = TextTower(TextTowerConfig(buckets=2**14, hidden=32, dim=16))
    marker = tmp_path / "died"

    on_ray = map_rows(DiesOnce(partial(embed_texts, model), marker), texts, workers=WORKERS, batch_size=64)

    assert marker.exists()  # a worker did die
    np.testing.assert_allclose(on_ray, embed_texts(model, list(texts)), rtol=0, atol=1e-6)


def kill_a_training_worker_once_busy(cpu_seconds: float, timeout_s: float) -> threading.Thread:
    """A thread that kills one Ray Train worker of this test's local cluster (a process below this
    one) once it has trained for ``cpu_seconds``."""

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for process in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "RayTrainWorker" in " ".join(process.cmdline()) and process.cpu_times().user > cpu_seconds:
                        process.kill()
                        return
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("max_failures", [1, 0])
def test_a_training_worker_lost_mid_run_is_retried_or_fails_clearly(
    local_ray: None, tmp_path: Path, max_failures: int
) -> None:
    from models.on_ray.two_tower import RayTrainFit

    split, countries = planted_split()
    config = dataclasses.replace(FAST, epochs=30, patience=30)  # long enough to be killed mid-run
    fit = RayTrainFit(workers=WORKERS, storage=tmp_path / "ray", max_failures=max_failures)
    killer = kill_a_training_worker_once_busy(cpu_seconds=4.0, timeout_s=120)
    if max_failures:
        fitted = fit(TwoTowerRecommender(config, user_features=countries), split.without_test())
        killer.join(timeout=1)
        assert not killer.is_alive()  # a worker was killed, and the run started again
        assert len(fitted.history.train_loss) == 30 and fitted.item_vectors.shape == (split.n_items, config.dim)
    else:
        with pytest.raises(RuntimeError, match="two-tower training on Ray failed .*worker"):
            fit(TwoTowerRecommender(config, user_features=countries), split.without_test())
        assert not any((tmp_path / "ray").rglob("two_tower.safetensors"))  # nothing to load, nothing published
