"""A recommender (the two-tower, PinSAGE) trained by Ray Train: a ``TorchTrainer`` of N workers,
each training on its share of every step (``models.data_parallel``, DDP over gloo), the leader
checkpointing the trained recommender to ``storage``; the driver loads it back from the checkpoint
and embeds every pin on Ray Data (``models.on_ray.batch_inference``) with as many actors. Only the
latest run's folder stays in ``storage``."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from models.batch_inference import MapRows
from models.data_parallel import Shard
from models.leave_last_out import EvaluationSplit
from models.on_ray.batch_inference import map_rows
from models.training import EpochCallback, TrainingHistory
from models.visual.catalogue import one_torch_thread

if TYPE_CHECKING:
    import ray.train

CHECKPOINT = "model.safetensors"
HISTORY = "history.json"


class Trainable(Protocol):
    """What Ray Train needs of a recommender (``TwoTowerRecommender``, ``PinSageRecommender``)."""

    name: str
    on_epoch: EpochCallback | None
    shard: Shard
    history: TrainingHistory
    item_vectors: np.ndarray

    def train(self, split: EvaluationSplit) -> None: ...

    def save(self, path: Path) -> None: ...

    def load_trained(self, path: Path, split: EvaluationSplit) -> None: ...

    def embed_every_item(self, map_rows: MapRows) -> None: ...


T = TypeVar("T", bound=Trainable)


def _train_on_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: train its shard, then the leader reports the checkpoint (all report).
    Every pin is embedded after, by the driver (``RayTrainFit``)."""
    import ray.train

    context = ray.train.get_context()
    recommender: Trainable = ray.get(config["recommender"])
    recommender.shard = Shard(context.get_world_rank(), context.get_world_size())
    with one_torch_thread():  # as models.fitting.fit_here
        recommender.train(ray.get(config["split"]))
    history = recommender.history
    metrics = {"validation_recall@10": max(history.validation, default=float("nan")), "epochs": len(history.train_loss)}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if recommender.shard.leads:
            recommender.save(Path(folder) / CHECKPOINT)
            (Path(folder) / HISTORY).write_text(json.dumps(asdict(history)))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


@dataclass(frozen=True)
class RayTrainFit:
    """Fits a recommender with ``workers`` Ray Train workers of one CPU (DDP over gloo), checkpointing
    under ``storage`` (shared by every node of the cluster); a failed worker restarts the run up to
    ``max_failures`` times; then embeds every pin with ``workers`` Ray Data actors. A
    ``models.fitting.Fit``."""

    workers: int
    storage: Path
    max_failures: int = 1

    def __call__(self, recommender: T, split: EvaluationSplit) -> T:
        prefix = f"{recommender.name}-"  # each fit's folder in the storage
        run = f"{prefix}{uuid.uuid4().hex}"  # a new name: Ray Train resumes a run of a known one
        shipped = copy.copy(recommender)
        shipped.on_epoch = None  # the caller's logger stays here
        checkpoint = self._train(shipped, split, run)
        with checkpoint.as_directory() as folder:
            recommender.load_trained(Path(folder) / CHECKPOINT, split)
            recommender.history = TrainingHistory(**json.loads((Path(folder) / HISTORY).read_text()))
        for earlier in self.storage.glob(f"{prefix}*"):
            if earlier.name != run:
                shutil.rmtree(earlier, ignore_errors=True)
        recommender.embed_every_item(partial(map_rows, workers=self.workers))  # the Train workers let go of the CPUs
        _replay_epochs(recommender.history, recommender)
        return recommender

    def _train(self, recommender: Trainable, split: EvaluationSplit, run: str) -> ray.train.Checkpoint:
        """The leader's checkpoint of ``recommender`` trained on ``split`` by the run named ``run``.
        The object store holds the two only until this returns, not while every pin is embedded."""
        import ray
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        trainer = TorchTrainer(
            _train_on_worker,
            # References, not the objects: Ray Train also hands its config to the run's controller,
            # which then held a copy of the split and the recommender (2.1 GiB of its own on large).
            train_loop_config={"recommender": ray.put(recommender), "split": ray.put(split)},
            scaling_config=ScalingConfig(num_workers=self.workers),
            run_config=RunConfig(
                name=run,
                storage_path=str(self.storage),
                failure_config=FailureConfig(max_failures=self.max_failures),
            ),
        )
        try:
            result = trainer.fit()
        except Exception as error:  # Ray's own errors name the worker, not the step
            allowed = f"{self.workers} workers, {self.max_failures} restarts allowed"
            raise RuntimeError(f"{recommender.name} training on Ray failed ({allowed}): {error}") from error
        if result.checkpoint is None:
            raise RuntimeError(f"Ray Train finished without a checkpoint: {result.error}")
        return result.checkpoint


def _replay_epochs(history: TrainingHistory, recommender: Trainable) -> None:
    """Report each epoch of ``history`` to ``recommender.on_epoch``, which stayed with the driver."""
    if recommender.on_epoch is None:
        return
    scores = [*history.validation, *[float("nan")] * (len(history.train_loss) - len(history.validation))]
    for epoch, (loss, score) in enumerate(zip(history.train_loss, scores), start=1):
        recommender.on_epoch(epoch, loss, score)
