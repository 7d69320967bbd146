"""Two-tower retrieval (DESIGN.md section 1, retrieval training): a user tower and a pin tower
trained jointly with the shared sampled softmax loss; a pin's score for a user is the dot product
of their unit vectors, so pins are served from an HNSW index of the pin tower's output.

- User tower: PinnerFormer's causal transformer (``models.pinnerformer.PinnerFormer``) over the
  user's last ``max_len`` actions, plus a learned vector per value of each categorical user
  feature (country, language, age bucket, ...), summed and normalized. A feature value never seen
  in training, or a user without features, adds nothing.
- Pin tower: PinSAGE (``models.pinsage``) over content features (hashed text tokens, category,
  log engagement count) and importance neighbours on the pin-board graph, plus (``pin_ids``) a
  learned vector per pin, zero at the start, so a pin that training never saw is embedded from its
  content and neighbours alone.

Training: every window of a user's history predicts targets by PinnerFormer's objectives (the
positions and their target items); the positives and random negatives are embedded by the pin
tower in the same step, and the loss is ``models.retrieval_loss.sampled_softmax_loss`` with
in-batch plus random negatives and logQ correction. Epochs run through ``models.training``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.leave_last_out import EvaluationSplit, evaluate_recommender
from models.pinnerformer import (
    OBJECTIVES,
    PinnerFormer,
    PinnerFormerConfig,
    PinnerFormerRecommender,
    _pad,
    _Sequences,
    _targets,
    _windows,
    gap_buckets,
)
from models.pinsage import (
    PinFeatures,
    PinSage,
    PinSageConfig,
    embed_items,
    pin_board_graph,
    pin_features,
)
from models.pinsage.model import sample_neighbours
from models.pinsage.recommender import engagement_feature
from models.retrieval_loss import (
    NegativeSampler,
    log_q_from_counts,
    sampled_softmax_loss,
)
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs

CHECKPOINT_KIND = "two_tower"


@dataclass
class TwoTowerConfig:
    """Both towers' shapes and the training settings; stored in the checkpoint.

    ``categories``, ``numeric_features``, ``user_feature_names`` and ``user_feature_values`` (the
    vocabulary of each user feature) describe the data and are filled by ``TwoTowerRecommender.fit``.
    """

    objective: str = "dense_next_action"  # one of models.pinnerformer.OBJECTIVES
    dim: int = 64
    layers: int = 1  # user tower: transformer layers
    heads: int = 2
    max_len: int = 50  # user tower: actions it reads
    window: int = 10  # dense_all_action: future actions a target is drawn from
    dropout: float = 0.1
    pin_hidden: int = 64  # pin tower: PinSAGE hidden size
    pin_layers: int = 2
    neighbours: int = 10
    walks: int = 100
    walk_length: int = 3
    restart_prob: float = 0.5
    buckets: int = 2**17
    min_n: int = 3
    max_n: int = 5
    pin_ids: bool = True  # a learned vector per pin added to the PinSAGE output
    history_boards: bool = True  # each user's training history joins the graph as a board
    categories: tuple[str, ...] = ()
    numeric_features: int = 0
    user_feature_names: tuple[str, ...] = ()
    user_feature_values: tuple[tuple[str, ...], ...] = ()
    # layers 1 and temperature 0.2 beat 2 and 0.1 on ML-100K validation recall@10 (0.192 against 0.174)
    temperature: float = 0.2
    random_negatives: int = 256
    # Patience 3 stopped on noise of the one validation item (ML-100K test recall@10 0.105-0.146
    # between runs); patience 6 with up to 40 epochs reached validation recall@10 0.215 (20: 0.197).
    epochs: int = 40  # at most; fit stops early on validation recall@10
    patience: int = 6
    batch_size: int = 32  # windows per step
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        self.categories = tuple(str(label) for label in self.categories)
        self.user_feature_names = tuple(self.user_feature_names)
        self.user_feature_values = tuple(tuple(str(v) for v in values) for values in self.user_feature_values)
        if len(self.user_feature_names) != len(self.user_feature_values):
            raise ValueError("user_feature_names and user_feature_values must be equally long")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.epochs < 0 or self.patience < 1 or self.random_negatives < 0:
            raise ValueError(f"need epochs >= 0, patience >= 1, random_negatives >= 0: {self}")
        _ = (
            self.user_config,
            self.pin_config,
        )  # building them validates the towers' fields

    @property
    def user_config(self) -> PinnerFormerConfig:
        """The user tower's transformer settings."""
        return PinnerFormerConfig(
            objective=self.objective,
            dim=self.dim,
            layers=self.layers,
            heads=self.heads,
            max_len=self.max_len,
            window=self.window,
            dropout=self.dropout,
            temperature=self.temperature,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
        )

    @property
    def pin_config(self) -> PinSageConfig:
        """The pin tower's PinSAGE settings (its output size is the user tower's ``dim``)."""
        return PinSageConfig(
            buckets=self.buckets,
            min_n=self.min_n,
            max_n=self.max_n,
            categories=self.categories,
            numeric_features=self.numeric_features,
            hidden=self.pin_hidden,
            dim=self.dim,
            layers=self.pin_layers,
            neighbours=self.neighbours,
            walks=self.walks,
            walk_length=self.walk_length,
            restart_prob=self.restart_prob,
            temperature=self.temperature,
            lr=self.lr,
            seed=self.seed,
        )


class TwoTower(nn.Module):
    """The two towers; both return unit vectors of size ``config.dim``."""

    def __init__(self, config: TwoTowerConfig, n_items: int) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.sequence = PinnerFormer(config.user_config, n_items)
        # Row 0 of each table is "unknown" and stays zero.
        self.user_features = nn.ModuleList(
            nn.Embedding(len(values) + 1, config.dim, padding_idx=0) for values in config.user_feature_values
        )
        for table in self.user_features:
            nn.init.normal_(table.weight, std=0.1)
            table.weight.data[0].zero_()
        self.pin_tower = PinSage(config.pin_config)
        self.pin_ids: nn.Embedding | None = None
        if config.pin_ids:
            self.pin_ids = nn.Embedding(n_items, config.dim)
            nn.init.zeros_(self.pin_ids.weight)

    def user_feature_vectors(self, codes: Tensor) -> Tensor:
        """``[b, dim]``: the sum of each user's feature vectors; codes ``[b, n_features]``."""
        total = torch.zeros(codes.shape[0], self.config.dim)
        for column, table in enumerate(self.user_features):
            total = total + table(codes[:, column])
        return total

    def users(self, items: Tensor, gaps: Tensor, codes: Tensor) -> Tensor:
        """Unit user vectors ``[b, L, dim]`` at each position of right-padded action sequences."""
        sequence = self.sequence(items, gaps)
        return F.normalize(sequence + self.user_feature_vectors(codes)[:, None, :], dim=-1)

    def pins(self, neighbours: dgl.DGLGraph, features: PinFeatures, pins: Tensor) -> Tensor:
        """Unit vectors ``[n, dim]`` of distinct pin indices."""
        return self.with_ids(self.pin_tower.embed(neighbours, features, pins), pins)

    def with_ids(self, content: Tensor, pins: Tensor) -> Tensor:
        """PinSAGE vectors of ``pins`` plus their id vectors, normalized."""
        if self.pin_ids is None:
            return content
        return F.normalize(content + self.pin_ids(pins), dim=-1)


def user_feature_codes(frame: pd.DataFrame | None, config: TwoTowerConfig, n_users: int) -> np.ndarray:
    """``[n_users, n_features]`` int64 codes of ``frame``'s rows (one per user, columns
    ``config.user_feature_names``) in the config's vocabularies; 0 for unknown or missing."""
    codes = np.zeros((n_users, len(config.user_feature_names)), dtype=np.int64)
    if frame is None or not config.user_feature_names:
        return codes
    if len(frame) != n_users:
        raise ValueError(f"user features have {len(frame)} rows for {n_users} users")
    for column, (name, values) in enumerate(zip(config.user_feature_names, config.user_feature_values)):
        vocabulary = {value: code for code, value in enumerate(values, start=1)}
        codes[:, column] = [vocabulary.get(str(value), 0) for value in frame[name].tolist()]
    return codes


def _step_batch(
    model: TwoTower,
    train: _Sequences,
    codes: Tensor,
    windows: list[tuple[int, int, int]],
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """Query vectors of the predicting positions of ``windows`` and their target item ids."""
    config = model.config
    positions, targets = [], []
    for row, (user, start, end) in enumerate(windows):
        at, where = _targets(config.objective, config.window, len(train.items[user]), start, end, rng)
        positions.append(np.stack([np.full(len(at), row), at]))
        targets.append(train.items[user][where])
    items, gaps = _pad(
        model.sequence,
        [train.items[u][s:e] for u, s, e in windows],
        [train.gaps[u][s:e] for u, s, e in windows],
    )
    users = torch.as_tensor([user for user, _, _ in windows])
    rows, at = np.concatenate(positions, axis=1)
    queries = model.users(items, gaps, codes[users])[rows, at]
    return queries, torch.from_numpy(np.concatenate(targets))


def train_two_tower(
    model: TwoTower,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    train: _Sequences,
    codes: Tensor,
    *,
    validate: Callable[[], float] | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainingHistory:
    """Fit ``model`` in place on users' training sequences; deterministic for ``config.seed``.

    Each step takes ``batch_size`` windows: their predicting positions are the queries, their
    targets the positives; the batch's positives plus ``random_negatives`` items drawn uniformly
    are embedded by the pin tower (neighbourhoods resampled every epoch) and scored with the
    shared loss, logQ-corrected by each item's frequency among the training actions.
    """
    config = model.config
    stream = np.concatenate([np.empty(0, np.int64), *train.items])
    if len(stream) == 0:
        raise ValueError("no training actions")
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(stream, minlength=model.n_items)))
    sampler = NegativeSampler(model.n_items)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizers = [
        torch.optim.SparseAdam(list(model.pin_tower.tokens.parameters()), lr=config.lr),
        torch.optim.Adam(
            [p for n, p in model.named_parameters() if not n.startswith("pin_tower.tokens.")],
            lr=config.lr,
        ),
    ]

    def train_epoch(epoch: int) -> float:
        neighbours = sample_neighbours(model.pin_tower, graph, seed=config.seed + epoch)
        windows = _windows(train, config.max_len, rng)
        order = rng.permutation(len(windows))
        total, count = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = [windows[w] for w in order[start : start + config.batch_size]]
            queries, positive_ids = _step_batch(model, train, codes, batch, rng)
            random_ids, random_log_q = sampler.draw(config.random_negatives, generator)
            pins, where = torch.cat([positive_ids, random_ids]).unique(return_inverse=True)
            vectors = model.pins(neighbours, features, pins)[where]
            loss = sampled_softmax_loss(
                queries,
                vectors[: len(positive_ids)],
                positive_log_q=log_q[positive_ids],
                random_negatives=vectors[len(positive_ids) :],
                random_log_q=random_log_q,
                positive_ids=positive_ids,
                random_ids=random_ids,
                temperature=config.temperature,
            )
            total += descend(loss, optimizers) * len(positive_ids)
            count += len(positive_ids)
        return total / max(count, 1)

    return fit_epochs(
        model,
        train_epoch,
        epochs=config.epochs,
        validate=validate,
        patience=config.patience,
        on_epoch=on_epoch,
    )


class TwoTowerRecommender:
    """The ``Recommender`` protocol of ``models.leave_last_out`` around a ``TwoTower``.

    ``user_features`` (optional) holds categorical columns indexed by the split's user ids
    (``EvaluationSplit.user_ids``), e.g. country, language and age bucket; ``item_features``
    (optional, ``[n_items, f]``) are extra numeric pin-tower inputs in the split's item order,
    e.g. visual vectors; ``on_epoch(epoch, loss, validation recall@10)`` reports progress.
    """

    def __init__(
        self,
        config: TwoTowerConfig | None = None,
        *,
        user_features: pd.DataFrame | None = None,
        item_features: np.ndarray | None = None,
        name: str = "two_tower",
        on_epoch: EpochCallback | None = None,
    ) -> None:
        self.config = config or TwoTowerConfig()
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

    def fit(self, split: EvaluationSplit) -> None:
        """Train on ``split.train``, early-stopping on validation recall@10, then embed every item."""
        labels = sorted({str(label) for label in split.item_category})
        numeric = engagement_feature(split)
        if self.item_features is not None:
            if len(self.item_features) != split.n_items:
                raise ValueError(f"item_features has {len(self.item_features)} rows for {split.n_items} items")
            numeric = np.hstack([numeric, np.asarray(self.item_features, dtype=np.float32)])
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
        boards = list(split.board_items) + ([h for h in split.train if len(h)] if config.history_boards else [])
        graph = pin_board_graph(split.n_items, boards)
        features = pin_features(
            split.item_text,
            split.item_category,
            tokenizer=config.pin_config.tokenizer,
            known_categories=labels,
            numeric=numeric,
        )
        train = _Sequences(
            [np.asarray(items, dtype=np.int64) for items in split.train],
            [gap_buckets(times) for times in split.train_times],
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = model = TwoTower(config, split.n_items)
            neighbours = sample_neighbours(model.pin_tower, graph)

            def validation_recall() -> float:
                self.item_vectors = _all_item_vectors(model, graph, features, neighbours)
                return evaluate_recommender(self, split, "validation", ks=(10,))["recall@10"]

            self.history = train_two_tower(
                model,
                graph,
                features,
                train,
                self._codes,
                validate=validation_recall,
                on_epoch=self.on_epoch,
            )
        self.item_vectors = _all_item_vectors(model, graph, features, neighbours)

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
        model = self._fitted()
        sequence = PinnerFormerRecommender(model.config.user_config)
        sequence.model = model.sequence  # its batched inference over the user tower's transformer
        vectors = sequence.embed_users(items, times)
        if codes is not None and len(model.user_features):
            with torch.inference_mode():
                vectors = vectors + model.user_feature_vectors(torch.as_tensor(codes, dtype=torch.int64)).numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

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
        self._split = split
        self._codes = torch.from_numpy(user_feature_codes(frame, self.config, split.n_users))

    def _fitted(self) -> TwoTower:
        if self.model is None:
            raise RuntimeError("the recommender is not fitted; call fit or load first")
        return self.model


def _all_item_vectors(
    model: TwoTower,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    neighbours: dgl.DGLGraph,
) -> np.ndarray:
    """Pin-tower vectors float32 ``[n_items, dim]`` of every item, over fixed ``neighbours``."""
    items = np.arange(model.n_items)
    content = embed_items(model.pin_tower, graph, features, items, neighbours=neighbours)
    with torch.inference_mode():
        return model.with_ids(torch.from_numpy(content), torch.from_numpy(items)).numpy()
