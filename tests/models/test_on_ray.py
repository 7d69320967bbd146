"""The heavy steps on a local Ray cluster of 2 workers give what they give in one process: every tiny
pin's text, visual, PinSAGE and two-tower vectors (Ray Data), and a two-tower and a PinSAGE trained
by Ray Train (DDP over gloo)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch

from core.sources import load_world
from models.batch_inference import MapRows, map_here
from models.fitting import fit_here
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world
from models.pinsage import PinSageConfig
from models.pinsage.recommender import PinSageRecommender
from models.training import EpochCallback
from models.on_ray.training import Trainable
from models.text_tower import TextTower, TextTowerConfig, embed_texts, pin_texts
from models.two_tower import TwoTowerRecommender
from models.visual import VisualCNN, VisualConfig, render_pins
from models.visual.catalogue import image_vectors
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


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, EvaluationSplit]:
    """The tiny world's pins in the order of its split's items, and the split."""
    world = load_world("tiny")[0]
    split = split_world(world)
    return world.pins.set_index("pin_id").loc[split.item_ids].reset_index(), split


def text_vectors(pins: pd.DataFrame, split: EvaluationSplit, map_rows: MapRows) -> np.ndarray:
    """pin_text_index: a text tower's vector of every pin."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = TextTower(TextTowerConfig(buckets=2**14, hidden=32, dim=16))
    return map_rows(partial(embed_texts, model), np.array(pin_texts(pins), dtype=object))


def visual_vectors(pins: pd.DataFrame, split: EvaluationSplit, map_rows: MapRows) -> np.ndarray:
    """pin_visual_embeddings (``fit_pin_visuals``' row function): a visual CNN's vector of every pin's image."""
    config = VisualConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VisualCNN(config, sorted(pins["category"].astype(str).unique()))
    return map_rows(partial(image_vectors, model), render_pins(pins, config.image_size))


def loaded_vectors(recommender: Trainable, split: EvaluationSplit, map_rows: MapRows) -> np.ndarray:
    """Every pin's vector from ``recommender`` built on ``split`` (untrained), saved and loaded back
    as ``RayTrainFit`` does before it embeds them."""
    recommender.train(split)
    with tempfile.TemporaryDirectory() as folder:
        recommender.save(Path(folder) / "model.safetensors")
        recommender.load_trained(Path(folder) / "model.safetensors", split)
    recommender.embed_every_item(map_rows)
    return recommender.item_vectors


def pinsage_vectors(pins: pd.DataFrame, split: EvaluationSplit, map_rows: MapRows) -> np.ndarray:
    """pinsage_embeddings: every pin's PinSAGE vector."""
    config = PinSageConfig(buckets=2**10, hidden=16, dim=16, walks=10, epochs=0)
    return loaded_vectors(PinSageRecommender(config), split, map_rows)


def two_tower_vectors(pins: pd.DataFrame, split: EvaluationSplit, map_rows: MapRows) -> np.ndarray:
    """two_tower_retrieval: every pin's pin-tower vector."""
    return loaded_vectors(TwoTowerRecommender(dataclasses.replace(FAST, epochs=0)), split, map_rows)


@pytest.mark.parametrize("vectors", [text_vectors, visual_vectors, pinsage_vectors, two_tower_vectors])
def test_batch_inference_on_ray_gives_the_in_process_vectors(
    local_ray: None,
    tiny: tuple[pd.DataFrame, EvaluationSplit],
    vectors: Callable[[pd.DataFrame, EvaluationSplit, MapRows], np.ndarray],
) -> None:
    """Each kind's vector of every tiny pin, by 2 Ray Data actors 256 pins a batch, as in one call here."""
    from models.on_ray.batch_inference import map_rows

    here = vectors(*tiny, map_here)
    on_ray = vectors(*tiny, partial(map_rows, workers=WORKERS, batch_size=256))

    assert on_ray.shape == here.shape and len(here) == len(tiny[0])
    np.testing.assert_allclose(on_ray, here, rtol=0, atol=1e-6)


def two_tower(countries: pd.DataFrame, on_epoch: EpochCallback | None = None, epochs: int = 4) -> TwoTowerRecommender:
    """A small two-tower for the planted split, trained ``epochs`` epochs (no early stop)."""
    config = dataclasses.replace(FAST, epochs=epochs, patience=epochs)
    return TwoTowerRecommender(config, user_features=countries, on_epoch=on_epoch)


def pinsage(countries: pd.DataFrame, on_epoch: EpochCallback | None = None, epochs: int = 4) -> PinSageRecommender:
    """A small PinSAGE for the planted split, trained ``epochs`` epochs (no early stop)."""
    config = PinSageConfig(buckets=2**12, hidden=32, dim=32, neighbours=5, walks=20, epochs=epochs, patience=epochs)
    return PinSageRecommender(dataclasses.replace(config, batch_size=64), on_epoch)


@pytest.mark.parametrize("recommender", [two_tower, pinsage])
def test_trained_by_two_ray_workers_matches_one_process(
    local_ray: None, tmp_path: Path, recommender: Callable[..., Trainable]
) -> None:
    """On the two-tower tests' planted split, 4 epochs: validation recall@10 within 10% of one process."""
    from models.on_ray.training import RayTrainFit

    split, countries = planted_split()
    alone = fit_here(recommender(countries), split.without_test())
    epochs: list[int] = []
    distributed = RayTrainFit(workers=WORKERS, storage=tmp_path / "ray")(
        recommender(countries, lambda epoch, *_: epochs.append(epoch)), split.without_test()
    )

    assert epochs == list(range(1, len(distributed.history.train_loss) + 1))
    assert any((tmp_path / "ray").rglob("model.safetensors")), "no checkpoint in the artifact store"
    ours, theirs = (evaluate_recommender(r, split, "validation", ks=(10,))["recall@10"] for r in (distributed, alone))
    assert ours == pytest.approx(theirs, rel=0.10), (ours, theirs)
    assert max(distributed.history.validation) == pytest.approx(ours)


def test_ray_train_is_handed_references_to_the_split_and_the_model_let_go_before_the_pins_are_embedded(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray Train hands its config to the run's controller as well as to its workers: the config
    must carry references to the split and the model, not their bytes (on large the controller
    held 2.1 GB of its own), and the workers still train on them. Once training ends the driver
    holds no reference to either, so the object store frees them before Ray Data embeds every pin."""
    import ray.train.torch

    import models.on_ray.training
    from models.on_ray.training import RayTrainFit

    handed: list[int] = []
    references: list[str] = []
    held_while_embedding: list[set[str]] = []

    class RecordingTrainer(ray.train.torch.TorchTrainer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            # Serialized in band, as Ray ships it to the controller: out of band (cloudpickle alone)
            # Ray would pin every object it refers to for good.
            context = ray._private.worker.global_worker.get_serialization_context()
            handed.append(context.serialize(self.train_run_context).total_bytes)
            config = self.train_run_context.train_loop_config.values()
            references.extend(value.hex() for value in config if isinstance(value, ray.ObjectRef))

    def embedding(*args: object, **kwargs: object) -> np.ndarray:
        # The driver's references, by hex id (a private API: Ray has no public one without the dashboard).
        counts = ray._private.worker.global_worker.core_worker.get_all_reference_counts()
        held = {key.decode() for key, count in counts.items() if count["local"] or count["submitted"]}
        held_while_embedding.append(held & set(references))
        return original_map_rows(*args, **kwargs)

    original_map_rows = models.on_ray.training.map_rows
    monkeypatch.setattr(ray.train.torch, "TorchTrainer", RecordingTrainer)
    monkeypatch.setattr(models.on_ray.training, "map_rows", embedding)
    split, countries = planted_split()
    fit = RayTrainFit(workers=WORKERS, storage=tmp_path / "ray")
    fitted = fit(two_tower(countries, epochs=1), split.without_test())

    assert len(fitted.history.train_loss) == 1 and len(fitted.item_vectors) == split.n_items
    split_bytes = len(cloudpickle.dumps(split))
    assert len(handed) == 1 and handed[0] < split_bytes / 10, (handed, split_bytes)
    assert len(references) == 2 and held_while_embedding == [set()], (references, held_while_embedding)


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


@contextlib.contextmanager
def training_workers_killed_once_busy(cpu_seconds: float, kills: int = 1) -> Iterator[list[int]]:
    """While open, a thread kills Ray Train workers of this test's local cluster (processes below this
    one) once each has trained for ``cpu_seconds``, ``kills`` of them at most; yields the killed pids."""
    killed: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while len(killed) < kills and not stop.wait(0.2):
            for process in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "RayTrainWorker" in " ".join(process.cmdline()) and process.cpu_times().user > cpu_seconds:
                        process.kill()
                        killed.append(process.pid)
                        break

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join()


# Epochs long enough that a worker is killed mid-run: at 4 CPU seconds a worker has trained about
# a third of them (PinSAGE: ~2.4 CPU seconds to start, ~0.5 an epoch).
@pytest.mark.parametrize(("recommender", "epochs"), [(two_tower, 30), (pinsage, 10)], ids=["two_tower", "pinsage"])
@pytest.mark.parametrize("max_failures", [1, 0])
def test_a_training_worker_lost_mid_run_is_retried_or_fails_clearly(
    local_ray: None, tmp_path: Path, recommender: Callable[..., Trainable], epochs: int, max_failures: int
) -> None:
    """A Ray Train worker killed mid-run: with a restart allowed, the run starts again and trains
    every epoch; with none, the fit fails naming the recommender and leaves no checkpoint."""
    from models.on_ray.training import RayTrainFit

    split, countries = planted_split()
    fit = RayTrainFit(workers=WORKERS, storage=tmp_path / "ray", max_failures=max_failures)
    with training_workers_killed_once_busy(cpu_seconds=4.0) as killed:
        if max_failures:
            fitted = fit(recommender(countries, epochs=epochs), split.without_test())
        else:
            with pytest.raises(RuntimeError, match=f"{recommender.__name__} training on Ray failed .*worker"):
                fit(recommender(countries, epochs=epochs), split.without_test())
    assert killed  # a worker did die mid-run
    if max_failures:  # and the run started again, to the end
        assert len(fitted.history.train_loss) == epochs and len(fitted.item_vectors) == split.n_items
    else:
        assert not any((tmp_path / "ray").rglob("model.safetensors"))  # nothing to load, nothing published
