"""PinnerFormer (DESIGN.md section 1, user embedding): a causal transformer over a user's last
actions whose output at every position is a unit user vector; the user's embedding is the
output at the last position.

An action is its item vector plus a bucketized log time gap to the action before it plus a
learned position. Candidates are scored against the same item table, normalized. Training uses
the shared ``sampled_softmax_loss`` with one of three objectives (Pancha et al., "PinnerFormer:
Sequence modeling for user representation at Pinterest", 2022):

- ``next_action``: only the last position of a window predicts the item after it;
- ``dense_next_action``: every position predicts the item after it;
- ``dense_all_action``: every position predicts an item drawn uniformly from its next
  ``window`` actions, drawn afresh at each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.all_action import AllActionSplit
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.leave_last_out import EvaluationSplit, rank_metrics
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs

CHECKPOINT_KIND = "pinnerformer"
OBJECTIVES = ("next_action", "dense_next_action", "dense_all_action")
GAP_BUCKETS = 32  # bucket 0: no earlier action; bucket b >= 1: log2(1 + gap seconds) in [b-1, b)
EVAL_BATCH = 256


@dataclass
class PinnerFormerConfig:
    """Objective, network shape and training settings; stored in the checkpoint."""

    objective: str = "dense_all_action"
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 50
    window: int = 10  # future actions a dense all-action target is drawn from
    dropout: float = 0.1
    # temperature, batch_size and lr: the best of a small grid on ML-100K validation recall@10
    # (0.05 learned slowly; 128 windows of 50 made one in-batch softmax of 6,400 queries a step).
    temperature: float = 0.2
    random_negatives: int = 256
    epochs: int = 20
    batch_size: int = 32  # windows per step
    lr: float = 3e-3
    patience: int = 3  # epochs without a better validation recall@10 before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if min(self.dim, self.layers, self.heads, self.max_len, self.window, self.batch_size) < 1:
            raise ValueError(f"need dim, layers, heads, max_len, window, batch_size >= 1: {self}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.epochs < 0 or self.patience < 1 or self.random_negatives < 0:
            raise ValueError(f"need epochs >= 0, patience >= 1, random_negatives >= 0: {self}")
        if self.temperature <= 0 or self.lr <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"need temperature, lr > 0 and dropout in [0, 1): {self}")


# The two model sizes of the ablation, as PinnerFormerConfig overrides.
SIZES: dict[str, dict[str, Any]] = {
    "small": {"dim": 32, "layers": 1, "heads": 1},
    "base": {"dim": 64, "layers": 2, "heads": 2},
}


def gap_buckets(times: np.ndarray) -> np.ndarray:
    """Per action, the bucket of its gap in seconds to the action before it (``GAP_BUCKETS``)."""
    times = np.asarray(times, dtype=np.float64)
    buckets = np.zeros(len(times), dtype=np.int64)
    if len(times) > 1:
        gaps = np.maximum(np.diff(times), 0.0)
        buckets[1:] = 1 + np.minimum(np.floor(np.log2(1.0 + gaps)), GAP_BUCKETS - 2)
    return buckets


class PinnerFormer(nn.Module):
    """Causal transformer from right-padded action sequences to unit user vectors per position.

    Item vectors are learned per item; given ``item_features`` ``[n_items, f]`` (precomputed,
    e.g. PinSAGE vectors), a learned projection of them is added to each item's vector. Given
    ``bias_features`` ``[n_items, g]`` (e.g. an item's log impression count), a score is the
    user-item cosine plus a learned linear bias of them: a prior, such as popularity, that a
    unit vector cannot carry.
    """

    def __init__(
        self,
        config: PinnerFormerConfig,
        n_items: int,
        item_features: Tensor | None = None,
        bias_features: Tensor | None = None,
    ) -> None:
        super().__init__()
        if n_items < 1:
            raise ValueError(f"need at least one item, got {n_items}")
        self.config = config
        self.n_items = n_items
        # Row n_items is padding; the causal mask keeps it out of every real position's view.
        self.items = nn.Embedding(n_items + 1, config.dim, padding_idx=n_items)
        self.feature_projection: nn.Linear | None = None
        if item_features is not None:
            if item_features.ndim != 2 or item_features.shape[0] != n_items:
                shape = tuple(item_features.shape)
                raise ValueError(f"item_features must be [{n_items}, f], got {shape}")
            self.register_buffer("item_features", item_features.float())
            self.feature_projection = nn.Linear(item_features.shape[1], config.dim, bias=False)
        self.gaps = nn.Embedding(GAP_BUCKETS, config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        # Small starts keep position and gap from drowning the item signal (default std is 1).
        for table in (self.items, self.gaps, self.positions):
            nn.init.normal_(table.weight, std=0.1)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            4 * config.dim,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        mask = nn.Transformer.generate_square_subsequent_mask(config.max_len)
        self.register_buffer("causal_mask", mask, persistent=False)
        self.bias_projection: nn.Linear | None = None
        if bias_features is not None:
            if bias_features.ndim != 2 or bias_features.shape[0] != n_items:
                raise ValueError(f"bias_features must be [{n_items}, g], got {tuple(bias_features.shape)}")
            self.register_buffer("bias_features", bias_features.float())
            self.bias_projection = nn.Linear(bias_features.shape[1], 1)

    def _item_table(self) -> Tensor:
        """Unnormalized item vectors ``[n_items + 1, dim]``, the padding row last."""
        table = self.items.weight
        if self.feature_projection is not None:
            table = table + F.pad(self.feature_projection(self.item_features), (0, 0, 0, 1))
        return table

    def item_vectors(self) -> Tensor:
        """Unit candidate vectors ``[n_items, dim]``."""
        return F.normalize(self._item_table()[: self.n_items], dim=-1)

    def item_bias(self) -> Tensor:
        """Each item's score bias ``[n_items]``; zeros without ``bias_features``."""
        if self.bias_projection is None:
            return torch.zeros(self.n_items)
        return self.bias_projection(self.bias_features).squeeze(-1)

    def forward(self, items: Tensor, gaps: Tensor) -> Tensor:
        """Unit user vectors ``[b, L, dim]`` for item ids and gap buckets ``[b, L]``, L <=
        ``max_len``, right-padded with item id ``n_items``; position t sees actions 0..t only."""
        length = items.shape[1]
        actions = self._item_table()[items] + self.gaps(gaps) + self.positions.weight[:length]
        hidden = self.encoder(
            self.dropout(actions), mask=self.causal_mask[:length, :length], is_causal=True
        )
        return F.normalize(self.norm(hidden), dim=-1)


@dataclass(frozen=True)
class ActionSequences:
    """Per user, item ids and gap buckets of equal length."""

    items: list[np.ndarray]
    gaps: list[np.ndarray]

    @classmethod
    def from_actions(cls, items: Sequence[np.ndarray], times: Sequence[np.ndarray]) -> ActionSequences:
        """Each user's item ids as int64, with the gap buckets of their action times (unix seconds)."""
        return cls([np.asarray(i, dtype=np.int64) for i in items], [gap_buckets(t) for t in times])


class PinnerFormerRecommender:
    """The ``Recommender`` protocol of ``models.leave_last_out`` around a ``PinnerFormer``; it also fits
    an ``AllActionSplit`` (``models.all_action``), whose histories it reads the same way.

    ``validation_score(recommender)`` (higher is better) picks the epoch to keep; by default the
    validation item's recall@10, which needs an ``EvaluationSplit``. ``on_epoch(epoch, loss,
    validation score)`` reports progress after each epoch.
    """

    def __init__(
        self,
        config: PinnerFormerConfig | None = None,
        *,
        item_features: np.ndarray | None = None,
        bias_features: np.ndarray | None = None,
        name: str = "pinnerformer",
        on_epoch: EpochCallback | None = None,
        validation_score: Callable[[PinnerFormerRecommender], float] | None = None,
    ) -> None:
        self.config = config or PinnerFormerConfig()
        self.name = name
        self.item_features = item_features
        self.bias_features = bias_features
        self.on_epoch = on_epoch
        self.validation_score = validation_score
        self.model: PinnerFormer | None = None
        self.split: EvaluationSplit | AllActionSplit | None = None
        self.history = TrainingHistory()

    def fit(self, split: EvaluationSplit | AllActionSplit) -> None:
        """Train on ``split.train`` through ``models.training.fit_epochs``: keep the weights of the
        epoch with the best validation score and stop after ``patience`` epochs without
        improvement. Deterministic for ``config.seed``; the caller's torch random state is left as
        it was."""
        config = self.config
        self.split = split
        train = ActionSequences.from_actions(split.train, split.train_times)
        stream = np.concatenate([np.empty(0, np.int64), *train.items])
        log_q = torch.from_numpy(log_q_from_counts(np.bincount(stream, minlength=split.n_items)))
        features = None if self.item_features is None else torch.as_tensor(self.item_features)
        bias_features = None if self.bias_features is None else torch.as_tensor(self.bias_features)
        rng = np.random.default_rng(config.seed)
        score = self.validation_score
        validate = self._next_item_recall(split) if score is None else partial(score, self)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = PinnerFormer(config, split.n_items, features, bias_features)
            self.model = model
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
            sampler = NegativeSampler(split.n_items)
            self.history = fit_epochs(
                model,
                lambda epoch: _train_epoch(model, optimizer, sampler, log_q, train, rng),
                epochs=config.epochs,
                validate=validate,
                patience=config.patience,
                on_epoch=self.on_epoch,
            )

    def _next_item_recall(self, split: EvaluationSplit | AllActionSplit) -> Callable[[], float]:
        """Validation recall@10 of the held-out next item (the leave-last-out protocol)."""
        if not isinstance(split, EvaluationSplit):
            raise TypeError("without a validation_score, fit needs an EvaluationSplit (a validation item per user)")
        validation = self._stage_sequences(np.arange(split.n_users), "validation")
        return lambda: rank_metrics(self._scores(validation), split.validation, validation.items, ks=(10,))["recall@10"]

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]``: each user's vector (from ``split.history(user, stage)``)
        dot the unit item vectors, plus each item's bias. History items are not masked."""
        return self._scores(self._stage_sequences(np.asarray(users), stage))

    def embed_users(self, items: Sequence[np.ndarray], times: Sequence[np.ndarray]) -> np.ndarray:
        """Unit user vectors float32 ``[len(items), dim]`` from each user's item ids and action
        times (unix seconds) in time order; only the last ``max_len`` actions count, and a user
        without actions gets a zero vector."""
        if len(items) != len(times) or any(len(i) != len(t) for i, t in zip(items, times)):
            raise ValueError("items and times must be equally long, user by user")
        sequences = [np.asarray(i, dtype=np.int64) for i in items]
        return self._user_vectors(ActionSequences(sequences, [gap_buckets(t) for t in times]))

    def item_vectors(self) -> np.ndarray:
        """Unit item vectors float32 ``[n_items, dim]``."""
        with torch.inference_mode():
            return self._fitted().item_vectors().numpy()

    def save(self, path: Path) -> None:
        """Write the config and weights to one checkpoint file."""
        model = self._fitted()
        state = {"n_items": model.n_items, "model": dict(model.state_dict())}
        save_checkpoint(path, kind=CHECKPOINT_KIND, config=self.config, state=state)

    @classmethod
    def load(cls, path: Path, split: EvaluationSplit | AllActionSplit | None = None) -> PinnerFormerRecommender:
        """Rebuild a fitted recommender from ``save``'s file; ``split`` supplies the histories
        that ``scores`` reads. ``CheckpointError`` when the file is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=PinnerFormerConfig)
        try:
            features = state["model"].get("item_features")
            bias_features = state["model"].get("bias_features")
            model = PinnerFormer(config, int(state["n_items"]), features, bias_features)
            model.load_state_dict(state["model"])
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(
                f"checkpoint {path} state does not fit its config: {error}"
            ) from error
        recommender = cls(
            config,
            item_features=None if features is None else features.numpy(),
            bias_features=None if bias_features is None else bias_features.numpy(),
        )
        recommender.model, recommender.split = model.eval(), split
        return recommender

    def _fitted(self) -> PinnerFormer:
        if self.model is None:
            raise RuntimeError("the recommender is not fitted; call fit or load first")
        return self.model

    def _stage_sequences(self, users: np.ndarray, stage: str) -> ActionSequences:
        """Each user's ``history(user, stage)`` with the gap buckets of its times."""
        if self.split is None:
            raise RuntimeError("no split: fit first, or pass one to load")
        split = self.split
        return ActionSequences(
            [np.asarray(split.history(int(user), stage), dtype=np.int64) for user in users],
            [gap_buckets(split.history_times(int(user), stage)) for user in users],
        )

    def _user_vectors(self, sequences: ActionSequences) -> np.ndarray:
        """The output at each user's last action (of the last ``max_len``); zeros if none."""
        model = self._fitted()
        keep = model.config.max_len
        was_training = model.training
        model.eval()
        vectors = np.zeros((len(sequences.items), model.config.dim), dtype=np.float32)
        try:
            with torch.inference_mode():
                for start in range(0, len(sequences.items), EVAL_BATCH):
                    rows = range(start, min(start + EVAL_BATCH, len(sequences.items)))
                    items = [sequences.items[r][-keep:] for r in rows]
                    lengths = np.array([len(i) for i in items])
                    if lengths.max() == 0:
                        continue
                    outputs = model(*pad_sequences(model, items, [sequences.gaps[r][-keep:] for r in rows]))
                    last = outputs[torch.arange(len(items)), np.maximum(lengths - 1, 0)].numpy()
                    vectors[start : start + len(items)] = np.where(lengths[:, None] > 0, last, 0.0)
        finally:
            model.train(was_training)
        return vectors

    def _scores(self, sequences: ActionSequences) -> np.ndarray:
        with torch.inference_mode():
            bias = self._fitted().item_bias().numpy()
        return self._user_vectors(sequences) @ self.item_vectors().T + bias[None, :]


def pad_sequences(
    model: PinnerFormer, items: list[np.ndarray], gaps: list[np.ndarray]
) -> tuple[Tensor, Tensor]:
    """Right-pad sequences to the longest one: item id ``n_items`` and gap bucket 0."""
    length = max(len(i) for i in items)
    padded_items = np.full((len(items), length), model.n_items, dtype=np.int64)
    padded_gaps = np.zeros((len(items), length), dtype=np.int64)
    for row, (i, g) in enumerate(zip(items, gaps)):
        padded_items[row, : len(i)] = i
        padded_gaps[row, : len(g)] = g
    return torch.from_numpy(padded_items), torch.from_numpy(padded_gaps)


def training_windows(
    train: ActionSequences, max_len: int, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """(user, start, end) input windows of at most ``max_len`` actions, each followed by at least
    one training action; cut from each sequence's end back, moved by a random shift per epoch."""
    windows = []
    for user, items in enumerate(train.items):
        inputs = len(items) - 1  # the last action is only ever a target
        if inputs < 1:
            continue
        shift = int(rng.integers(min(max_len, inputs)))
        for end in range(inputs - shift, 0, -max_len):
            windows.append((user, max(end - max_len, 0), end))
    return windows


def objective_targets(
    objective: str,
    window: int,
    sequence_length: int,
    start: int,
    end: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the window that predict, indices of their targets in the full sequence)."""
    absolute = np.arange(start, end)
    if objective == "next_action":
        return absolute[-1:] - start, absolute[-1:] + 1
    if objective == "dense_next_action":
        return absolute - start, absolute + 1
    reach = np.minimum(window, sequence_length - 1 - absolute)
    return absolute - start, absolute + 1 + (rng.random(len(absolute)) * reach).astype(np.int64)


def _train_epoch(
    model: PinnerFormer,
    optimizer: torch.optim.Optimizer,
    sampler: NegativeSampler,
    log_q: Tensor,
    train: ActionSequences,
    rng: np.random.Generator,
) -> float:
    """One pass over shuffled windows; the mean loss per target."""
    config = model.config
    windows = training_windows(train, config.max_len, rng)
    order = rng.permutation(len(windows))
    model.train()
    total, count = 0.0, 0
    for batch_start in range(0, len(order), config.batch_size):
        batch = [windows[w] for w in order[batch_start : batch_start + config.batch_size]]
        items, gaps, rows, positions, target_ids = [], [], [], [], []
        for row, (user, start, end) in enumerate(batch):
            sequence = train.items[user]
            items.append(sequence[start:end])
            gaps.append(train.gaps[user][start:end])
            at, targets = objective_targets(config.objective, config.window, len(sequence), start, end, rng)
            rows.append(np.full(len(at), row))
            positions.append(at)
            target_ids.append(sequence[targets])
        padded_items, padded_gaps = pad_sequences(model, items, gaps)
        queries = model(padded_items, padded_gaps)[np.concatenate(rows), np.concatenate(positions)]
        positive_ids = torch.from_numpy(np.concatenate(target_ids))
        random_ids, random_log_q = sampler.draw(config.random_negatives)
        # The bias rides on one more coordinate: (user, 1) . (item, bias) = cosine + bias.
        queries = torch.cat([queries, torch.ones_like(queries[:, :1])], dim=1)
        candidates = torch.cat([model.item_vectors(), model.item_bias()[:, None]], dim=1)
        loss = sampled_softmax_loss(
            queries,
            candidates[positive_ids],
            positive_log_q=log_q[positive_ids],
            random_negatives=candidates[random_ids],
            random_log_q=random_log_q,
            positive_ids=positive_ids,
            random_ids=random_ids,
            temperature=config.temperature,
        )
        total += descend(loss, [optimizer]) * len(positive_ids)
        count += len(positive_ids)
    return total / count if count else math.nan
