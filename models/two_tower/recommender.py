"""The two-tower as a ``Recommender`` of ``models.leave_last_out``: fit on a split, score its users,
embed any user from their actions and features, and round-trip through one checkpoint file."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from models.batch_inference import MapRows, map_here
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.data_parallel import Shard
from models.leave_last_out import EvaluationSplit, early_stopping_recall
from models.pinnerformer import ActionSequences
from models.pinsage import PinFeatures, embed_items
from models.pinsage.recommender import item_inputs, pin_inputs
from models.training import EpochCallback, TrainingHistory
from models.two_tower.config import CHECKPOINT_KIND, TwoTowerConfig
from models.two_tower.model import TwoTower
from models.two_tower.trainer import train_two_tower
from models.two_tower.user_features import user_feature_codes


class TwoTowerRecommender:
    """The ``Recommender`` protocol of ``models.leave_last_out`` around a ``TwoTower``.

    ``user_features`` (optional) holds categorical columns indexed by the split's user ids
    (``EvaluationSplit.user_ids``), e.g. country, language and age bucket; ``item_features``
    (optional, ``[n_items, f]``) are extra numeric pin-tower inputs in the split's item order,
    e.g. visual vectors; ``on_epoch(epoch, loss, validation recall@10)`` reports progress;
    ``shard`` is this process's part when several train it together (``models.data_parallel``).
    """

    def __init__(
        self,
        config: TwoTowerConfig | None = None,
        *,
        user_features: pd.DataFrame | None = None,
        item_features: np.ndarray | None = None,
        name: str = "two_tower",
        on_epoch: EpochCallback | None = None,
        shard: Shard = Shard(),
    ) -> None:
        self.config = config or TwoTowerConfig()
        self.shard = shard
        self.user_features = user_features
        self.item_features = item_features
        self.name = name
        self.on_epoch = on_epoch
        self.model: TwoTower | None = None
        self.history = TrainingHistory()
        self.item_vectors = np.empty((0, self.config.dim), dtype=np.float32)
        self.item_ids = np.empty(0, dtype=np.int64)
        self._split: EvaluationSplit | None = None
        self._codes = torch.empty(0, 0, dtype=torch.int64)
        self._pins: tuple[dgl.DGLGraph, PinFeatures, dgl.DGLGraph] | None = None  # _pin_inputs of the split

    def fit(self, split: EvaluationSplit) -> None:
        """``train`` on ``split``, then embed every item here."""
        self.train(split)
        self.embed_every_item()

    def train(self, split: EvaluationSplit) -> None:
        """Train on ``split.train``, early-stopping on validation recall@10; ``item_vectors`` stay
        those of the last validation until ``embed_every_item``."""
        labels = sorted({str(label) for label in split.item_category})
        numeric = item_inputs(split, True, self.item_features)
        frame = None if self.user_features is None else self.user_features.reindex(split.user_ids)
        names = () if frame is None else tuple(str(name) for name in frame.columns)
        values = () if frame is None else tuple(tuple(sorted(frame[n].dropna().astype(str).unique())) for n in names)
        config = dataclasses.replace(
            self.config,
            categories=tuple(labels),
            numeric_features=numeric.shape[1],
            user_feature_names=names,
            user_feature_values=values,
        )
        self.config, self.item_ids = config, split.item_ids
        self._use_split(split)
        train = ActionSequences.from_actions(split.train, split.train_times)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = model = TwoTower(config, split.n_items)
            self._pins = graph, features, neighbours = self._pin_inputs(split, numeric)

            def validation_recall() -> float:
                self.item_vectors = pin_tower_vectors(model, graph, features, neighbours, np.arange(split.n_items))
                return early_stopping_recall(self, split, self.shard)

            self.history = train_two_tower(
                model,
                graph,
                features,
                train,
                self._codes,
                validate=validation_recall,
                on_epoch=self.on_epoch,
                shard=self.shard,
            )

    def load_trained(self, path: Path, split: EvaluationSplit) -> None:
        """Take the model of ``save``'s file, trained on ``split`` elsewhere, as if trained here
        (``embed_every_item`` next); ``CheckpointError`` when the file is unusable."""
        loaded = TwoTowerRecommender.load(path)
        self.config, self.model, self.item_ids = loaded.config, loaded.model, loaded.item_ids
        self._use_split(split)

    def embed_every_item(self, map_rows: MapRows = map_here) -> None:
        """``item_vectors`` of the split's items from the trained (or loaded) model: its pin tower
        mapped over the item indices by ``map_rows`` (here, or e.g. on Ray Data actors)."""
        model = self._fitted()
        if self._split is None:
            raise RuntimeError("no split: fit first, or pass one to load")
        if self._pins is None:  # loaded: the pin graph, features and neighbourhoods are rebuilt as in train
            self._pins = self._pin_inputs(self._split, item_inputs(self._split, True, self.item_features))
        self.item_vectors = map_rows(partial(pin_tower_vectors, model, *self._pins), np.arange(model.n_items))

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]``: user-tower vectors of ``split.history(user, stage)`` dot the
        item vectors (history not masked)."""
        if self._split is None:
            raise RuntimeError("no split: fit first, or pass one to load")
        split, users = self._split, np.asarray(users, dtype=np.int64)
        vectors = self.embed_users(
            [split.history(int(u), stage) for u in users],
            [split.history_times(int(u), stage) for u in users],
            self._codes[users].numpy(),
        )
        return vectors @ self.item_vectors.T

    def embed_users(
        self,
        items: Sequence[np.ndarray],
        times: Sequence[np.ndarray],
        codes: np.ndarray | None = None,
    ) -> np.ndarray:
        """Unit user vectors float32 ``[len(items), dim]`` from each user's item indices and
        action times (unix seconds) in time order (only the last ``max_len`` count) and their
        ``user_feature_codes`` rows; a user with neither actions nor known features gets zeros."""
        return self._fitted().embed(items, times, codes)

    def save(self, path: Path) -> None:
        """Write the config, weights, item ids and item vectors to one checkpoint file."""
        model = self._fitted()
        state = {
            "n_items": model.n_items,
            "model": dict(model.state_dict()),
            "item_ids": self.item_ids,
            "item_vectors": self.item_vectors,
        }
        save_checkpoint(path, kind=CHECKPOINT_KIND, config=self.config, state=state)

    @classmethod
    def load(
        cls,
        path: Path,
        split: EvaluationSplit | None = None,
        user_features: pd.DataFrame | None = None,
    ) -> TwoTowerRecommender:
        """Rebuild a fitted recommender from ``save``'s file (item vectors included); ``split`` and
        ``user_features`` supply what ``scores`` reads. ``CheckpointError`` when the file is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=TwoTowerConfig)
        try:
            model = TwoTower(config, int(state["n_items"]))
            model.load_state_dict(state["model"])
            item_ids, item_vectors = (
                np.asarray(state["item_ids"]),
                np.asarray(state["item_vectors"]),
            )
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
        recommender = cls(config, user_features=user_features)
        recommender.model, recommender.item_ids, recommender.item_vectors = (
            model.eval(),
            item_ids,
            item_vectors,
        )
        if split is not None:
            recommender._use_split(split)
        return recommender

    def _use_split(self, split: EvaluationSplit) -> None:
        """Score ``split``'s users: their histories, and their feature codes in the config's vocabularies."""
        frame = None if self.user_features is None else self.user_features.reindex(split.user_ids)
        self._split, self._pins = split, None
        self._codes = torch.from_numpy(user_feature_codes(frame, self.config, split.n_users))

    def _pin_inputs(
        self, split: EvaluationSplit, numeric: np.ndarray
    ) -> tuple[dgl.DGLGraph, PinFeatures, dgl.DGLGraph]:
        """``pin_inputs`` of ``split`` for the fitted pin tower: the split's boards, and the users'
        training histories as boards when the config says so."""
        return pin_inputs(
            split, self._fitted().pin_tower, numeric, split_boards=True, history_boards=self.config.history_boards
        )

    def _fitted(self) -> TwoTower:
        if self.model is None:
            raise RuntimeError("the recommender is not fitted; call fit or load first")
        return self.model


def pin_tower_vectors(
    model: TwoTower,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    neighbours: dgl.DGLGraph,
    items: np.ndarray,
    block_size: int = 65_536,
) -> np.ndarray:
    """Pin-tower vectors float32 ``[len(items), dim]`` of item indices, over fixed ``neighbours``,
    ``block_size`` items at a time (1M pins at once held four copies of their vectors: 1 GiB)."""
    items = np.array(items, dtype=np.int64)  # a copy: torch takes no read-only arrays (Ray Data's are)
    vectors = np.empty((len(items), model.config.dim), dtype=np.float32)
    for start in range(0, len(items), block_size):
        block = items[start : start + block_size]
        content = torch.from_numpy(embed_items(model.pin_tower, graph, features, block, neighbours=neighbours))
        with torch.inference_mode():
            vectors[start : start + len(block)] = model.with_ids(content, torch.from_numpy(block)).numpy()
    return vectors
