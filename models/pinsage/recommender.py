"""PinSAGE behind the evaluation protocol: item vectors from the trained model, a user as the
(recency-weighted) mean of their history's item vectors.

The walk graph holds the split's boards (``split_boards``) and, with ``history_boards``, one
co-engagement board per user holding all their training items: on MovieLens the split's boards
hold only 4-5 star saves, split by genre, while every rating is an interaction the protocol
scores. Training pairs are neighbours in users' training histories; validation and test items
never enter the graph or the pairs.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import dgl
import numpy as np
import torch

from models.batch_inference import MapRows, map_here
from models.checkpoint import save_checkpoint
from models.data_parallel import Shard
from models.interests import recency_weighted_mean
from models.leave_last_out import EvaluationSplit, early_stopping_recall
from models.pinsage.features import PinFeatures, pin_features
from models.pinsage.graph import pin_board_graph
from models.pinsage.config import CHECKPOINT_KIND, PinSageConfig
from models.pinsage.model import PinSage, embed_items, load_pinsage, sample_neighbours
from models.pinsage.training import co_engaged_pairs, train_pinsage
from models.training import EpochCallback, TrainingHistory


class PinSageRecommender:
    """``fit`` trains PinSAGE on the split with early stopping on validation recall@10;
    ``scores`` rates every item for each user by their history's recency-weighted mean vector.

    Item inputs are the text, the category and (``engagement_feature``) the item's training
    interaction count, which lets a model without id embeddings learn popularity (a new item
    has count 0), and ``item_features`` when given: extra numeric inputs ``[n_items, f]`` in the
    split's item order, e.g. visual vectors.
    """

    name = "pinsage"

    def __init__(
        self,
        config: PinSageConfig | None = None,
        on_epoch: EpochCallback | None = None,
        *,
        item_features: np.ndarray | None = None,
        shard: Shard = Shard(),
    ) -> None:
        """``on_epoch(epoch, loss, validation recall@10)`` reports training progress; ``shard`` is
        this process's part when several train it together (``models.data_parallel``)."""
        self.config = config or PinSageConfig()
        self.on_epoch = on_epoch
        self.item_features = item_features
        self.shard = shard
        # After fit: the trained model and what embeds the split's items (or new ones) with it.
        self.model: PinSage | None = None
        self.graph: dgl.DGLGraph | None = None
        self.features: PinFeatures | None = None
        self.neighbours: dgl.DGLGraph | None = None
        self.item_vectors = np.empty((0, self.config.dim), dtype=np.float32)
        self.history = TrainingHistory()
        self._split: EvaluationSplit | None = None

    def fit(self, split: EvaluationSplit) -> None:
        """``train`` on ``split``, then embed every item here."""
        self.train(split)
        self.embed_every_item()

    def train(self, split: EvaluationSplit) -> None:
        """Build the graph, features and pairs from the training part of ``split`` and train;
        ``item_vectors`` stay those of the last validation until ``embed_every_item``."""
        labels = sorted({str(label) for label in split.item_category})
        numeric = item_inputs(split, self.config.engagement_feature, self.item_features)
        config = dataclasses.replace(self.config, categories=tuple(labels), numeric_features=numeric.shape[1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = PinSage(config)
        self.model, self._split = model, split
        graph, features, neighbours = self._pin_inputs(split, numeric)
        self.graph, self.features, self.neighbours = graph, features, neighbours

        def validation_recall(candidate: PinSage) -> float:
            self.item_vectors = embed_items(candidate, graph, features, np.arange(split.n_items), neighbours=neighbours)
            return early_stopping_recall(self, split, self.shard)

        pairs = co_engaged_pairs(split.train, config.pair_window)
        self.history = train_pinsage(
            model, graph, features, pairs, validation_score=validation_recall, on_epoch=self.on_epoch, shard=self.shard
        )

    def load_trained(self, path: Path, split: EvaluationSplit) -> None:
        """Take the model of ``save``'s file, trained on ``split`` elsewhere, as if trained here
        (``embed_every_item`` next); ``CheckpointError`` when the file is unusable."""
        self.model, self._split = load_pinsage(path), split
        self.graph = self.features = self.neighbours = None

    def embed_every_item(self, map_rows: MapRows = map_here) -> None:
        """``item_vectors`` of the split's items from the trained (or loaded) model: ``embed_items``
        mapped over the item indices by ``map_rows`` (here, or e.g. on Ray Data actors)."""
        if self.model is None or self._split is None:
            raise RuntimeError("train the recommender before embedding its items")
        if self.graph is None or self.features is None:  # loaded: rebuilt as in train
            numeric = item_inputs(self._split, self.model.config.engagement_feature, self.item_features)
            self.graph, self.features, self.neighbours = self._pin_inputs(self._split, numeric)
        function = partial(embed_items, self.model, self.graph, self.features, neighbours=self.neighbours)
        self.item_vectors = map_rows(function, np.arange(self._split.n_items))

    def _pin_inputs(
        self, split: EvaluationSplit, numeric: np.ndarray
    ) -> tuple[dgl.DGLGraph, PinFeatures, dgl.DGLGraph]:
        """``pin_inputs`` of ``split`` for the model, with the boards its config names."""
        if self.model is None:
            raise RuntimeError("train the recommender first")
        config = self.model.config
        return pin_inputs(
            split, self.model, numeric, split_boards=config.split_boards, history_boards=config.history_boards
        )

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]`` dot products of user and item vectors (history not masked)."""
        if self._split is None:
            raise RuntimeError("fit the recommender before scoring")
        users = np.asarray(users)
        return user_vectors(self._split, self.item_vectors, users, stage, self.config.history_decay) @ self.item_vectors.T

    def save(self, path: Path) -> None:
        """Write the config, weights, item ids and every item's vector to one checkpoint file
        (``models.pinsage.pin_vectors`` reads the vectors back without DGL)."""
        if self.model is None or self._split is None:
            raise RuntimeError("fit the recommender before saving it")
        state = {
            "model": dict(self.model.state_dict()),
            "item_ids": self._split.item_ids,
            "item_vectors": self.item_vectors,
        }
        save_checkpoint(path, kind=CHECKPOINT_KIND, config=self.model.config, state=state)


def item_inputs(split: EvaluationSplit, engagement: bool, extra: np.ndarray | None) -> np.ndarray:
    """``[n_items, f]`` float32 numeric item inputs: the ``engagement_feature`` (when
    ``engagement``) beside the ``extra`` columns (when given)."""
    columns = [np.zeros((split.n_items, 0), dtype=np.float32)]
    if engagement:
        columns.append(engagement_feature(split))
    if extra is not None:
        if len(extra) != split.n_items:
            raise ValueError(f"item_features has {len(extra)} rows for {split.n_items} items")
        columns.append(np.asarray(extra, dtype=np.float32))
    return np.hstack(columns)


def pin_inputs(
    split: EvaluationSplit, encoder: PinSage, numeric: np.ndarray, *, split_boards: bool, history_boards: bool
) -> tuple[dgl.DGLGraph, PinFeatures, dgl.DGLGraph]:
    """(walk graph, pin features, importance neighbourhoods) of ``split``'s items for a PinSAGE
    ``encoder``, with the ``numeric`` inputs of ``item_inputs``: the graph holds the split's boards
    (``split_boards``) and each user's training history as a board (``history_boards``). The same
    for the same split, encoder config and inputs."""
    boards = list(split.board_items) if split_boards else []
    if history_boards:
        boards += [history for history in split.train if len(history)]
    graph = pin_board_graph(split.n_items, boards)
    config = encoder.config
    features = pin_features(
        split.item_text,
        split.item_category,
        tokenizer=config.tokenizer,
        known_categories=list(config.categories),
        numeric=numeric,
    )
    return graph, features, sample_neighbours(encoder, graph)


def engagement_feature(split: EvaluationSplit) -> np.ndarray:
    """``[n_items, 1]``: log(1 + training interactions) scaled to [0, 1]; 0 for a new item."""
    counts = np.bincount(np.concatenate([np.empty(0, np.int64), *split.train]), minlength=split.n_items)
    logs = np.log1p(counts.astype(np.float32))
    return (logs / max(float(logs.max()), 1.0))[:, None]


def user_vectors(split: EvaluationSplit, item_vectors: np.ndarray, users: np.ndarray, stage: str, decay: float) -> np.ndarray:
    """Each user's history item vectors averaged, the latest weighted 1 and each earlier one
    ``decay`` times its successor; zero for an empty history."""
    vectors = np.zeros((len(users), item_vectors.shape[1]), dtype=np.float32)
    for row, user in enumerate(users):
        vectors[row] = recency_weighted_mean(item_vectors[split.history(int(user), stage)], decay)
    return vectors
