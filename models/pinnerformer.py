"""PinnerFormer (DESIGN.md section 1, user embedding): a causal transformer over a user's last
actions whose output at every position is a unit user vector; the user's embedding is the
output at the last position.

An action is its item vector plus a bucketized log time gap to the action before it plus a
learned position (plus, with ``action_kinds``, a vector for the action's kind: click, long click or
save); an item's vector is a learned id vector, plus optionally a bag of its hashed
words (``text_buckets``: category and text, so a rarely seen item shares what its words learned).
Candidates are scored against the same item table, normalized. A catalogue of at most
``full_softmax_items`` trains on a softmax over every item; a larger one on the shared
``sampled_softmax_loss`` (in-batch and random negatives, logQ-corrected). Each position predicts
with one of three objectives (Pancha et al., "PinnerFormer: Sequence modeling for user
representation at Pinterest", 2022):

- ``next_action``: only the last position of a window predicts the item after it;
- ``dense_next_action``: every position predicts the item after it;
- ``dense_all_action``: every position predicts an item drawn uniformly from its next
  ``window`` actions, drawn afresh at each step.
"""

from __future__ import annotations

import contextlib
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
from models.item_words import item_words
from models.leave_last_out import INTERACTIONS, EvaluationSplit, rank_metrics
from models.pinnerformer_config import GAP_BUCKETS, PinnerFormerConfig, gap_buckets
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs

CHECKPOINT_KIND = "pinnerformer"
EVAL_BATCH = 256


# The two model sizes of the ablation, as PinnerFormerConfig overrides.
SIZES: dict[str, dict[str, Any]] = {
    "small": {"dim": 32, "layers": 1, "heads": 1},
    "base": {"dim": 64, "layers": 2, "heads": 2},
}


class PinnerFormer(nn.Module):
    """Causal transformer from right-padded action sequences to unit user vectors per position.

    Item vectors are learned per item; given ``item_features`` ``[n_items, f]`` (precomputed,
    e.g. PinSAGE vectors), a learned projection of them is added to each item's vector; given
    ``item_words`` (``models.item_words``: flat bucket ids and per-item offsets, needs
    ``config.text_buckets``), the mean of a learned vector per word bucket is added too. Given
    ``bias_features`` ``[n_items, g]`` (e.g. an item's log impression count), a score is the
    user-item cosine plus a learned linear bias of them: a prior, such as popularity, that a
    unit vector cannot carry. With ``sparse_items`` (no features or words then) the item table's
    gradient holds only the rows a step reads, for ``SparseAdam``; a loss over the whole table
    (``item_vectors``) needs the dense table.
    """

    def __init__(
        self,
        config: PinnerFormerConfig,
        n_items: int,
        item_features: Tensor | None = None,
        bias_features: Tensor | None = None,
        item_words: tuple[Tensor, Tensor] | None = None,
        *,
        sparse_items: bool = False,
    ) -> None:
        super().__init__()
        if n_items < 1:
            raise ValueError(f"need at least one item, got {n_items}")
        if sparse_items and (item_features is not None or item_words is not None):
            raise ValueError("sparse_items reads the item table alone: it takes no item_features or item_words")
        self.config = config
        self.n_items = n_items
        # Row n_items is padding; the causal mask keeps it out of every real position's view.
        self.items = nn.Embedding(n_items + 1, config.dim, padding_idx=n_items, sparse=sparse_items)
        self.feature_projection: nn.Linear | None = None
        if item_features is not None:
            if item_features.ndim != 2 or item_features.shape[0] != n_items:
                shape = tuple(item_features.shape)
                raise ValueError(f"item_features must be [{n_items}, f], got {shape}")
            self.register_buffer("item_features", item_features.float())
            self.feature_projection = nn.Linear(item_features.shape[1], config.dim, bias=False)
        self.words: nn.EmbeddingBag | None = None
        if item_words is not None:
            word_ids, word_offsets = item_words
            if config.text_buckets < 1 or word_offsets.shape != (n_items,):
                raise ValueError(f"item_words need text_buckets >= 1 and {n_items} offsets: {config}")
            self.register_buffer("word_ids", torch.as_tensor(word_ids, dtype=torch.int64))
            self.register_buffer("word_offsets", torch.as_tensor(word_offsets, dtype=torch.int64))
            self.words = nn.EmbeddingBag(config.text_buckets, config.dim, mode="mean")
        self.gaps = nn.Embedding(GAP_BUCKETS, config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.kinds = nn.Embedding(len(INTERACTIONS), config.dim) if config.action_kinds else None
        # Small starts keep position and gap from drowning the item signal (default std is 1).
        for table in (self.items, self.gaps, self.positions, self.words, self.kinds):
            if table is not None:
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

    @property
    def device(self) -> torch.device:
        """Where the weights are, and so every input must be."""
        return self.items.weight.device

    def _item_table(self) -> Tensor:
        """Unnormalized item vectors ``[n_items + 1, dim]``, the padding row last."""
        table = self.items.weight
        if self.feature_projection is not None:
            table = table + F.pad(self.feature_projection(self.item_features), (0, 0, 0, 1))
        if self.words is not None:
            table = table + F.pad(self.words(self.word_ids, self.word_offsets), (0, 0, 0, 1))
        return table

    def _action_items(self, items: Tensor) -> Tensor:
        """Unnormalized vectors ``[b, L, dim]`` of the item ids ``[b, L]``. A sparse table is read
        by lookup, so that its gradient holds only the rows read."""
        if self.items.sparse:
            return self.items(items)
        return self._item_table()[items]

    def item_vectors(self) -> Tensor:
        """Unit candidate vectors ``[n_items, dim]``."""
        return F.normalize(self._item_table()[: self.n_items], dim=-1)

    def item_bias(self) -> Tensor:
        """Each item's score bias ``[n_items]``; zeros without ``bias_features``."""
        if self.bias_projection is None:
            return torch.zeros(self.n_items, device=self.device)
        return self.bias_projection(self.bias_features).squeeze(-1)

    def forward(self, items: Tensor, gaps: Tensor, kinds: Tensor | None = None) -> Tensor:
        """Unit user vectors ``[b, L, dim]`` for item ids and gap buckets ``[b, L]``, L <=
        ``max_len``, right-padded with item id ``n_items``; position t sees actions 0..t only.
        ``kinds`` ``[b, L]`` index ``INTERACTIONS`` (a model with ``action_kinds`` reads a missing one as clicks)."""
        length = items.shape[1]
        hidden = self.encoder(
            self._actions(items, gaps, kinds), mask=self.causal_mask[:length, :length], is_causal=True
        )
        return F.normalize(self.norm(hidden), dim=-1)

    def outputs_at(self, items: Tensor, gaps: Tensor, kinds: Tensor | None, positions: Tensor) -> Tensor:
        """``forward``'s vectors at one position per row (``positions`` ``[b]``), ``[b, dim]``: the
        last layer computes those positions alone, as nothing else is read."""
        length = items.shape[1]
        *earlier, last = self.encoder.layers
        mask = self.causal_mask[:length, :length]
        hidden = self._actions(items, gaps, kinds)
        for layer in earlier:
            hidden = layer(hidden, src_mask=mask, is_causal=True)
        normed = last.norm1(hidden)
        rows = torch.arange(len(items), device=items.device)
        later = torch.arange(length, device=items.device)[None, :] > positions[:, None]
        attended, _ = last.self_attn(
            normed[rows, positions].unsqueeze(1), normed, normed, key_padding_mask=later, need_weights=False
        )
        output = hidden[rows, positions] + last.dropout1(attended[:, 0])
        feed_forward = last.linear2(last.dropout(last.activation(last.linear1(last.norm2(output)))))
        return F.normalize(self.norm(output + last.dropout2(feed_forward)), dim=-1)

    def _actions(self, items: Tensor, gaps: Tensor, kinds: Tensor | None) -> Tensor:
        """The encoder's input ``[b, L, dim]``: each action's item, gap, position and kind vectors summed."""
        length = items.shape[1]
        actions = self._action_items(items) + self.gaps(gaps) + self.positions.weight[:length]
        if self.kinds is not None:
            actions = actions + self.kinds(torch.zeros_like(items) if kinds is None else kinds)
        return self.dropout(actions)


@dataclass(frozen=True)
class ActionSequences:
    """Per user, item ids and gap buckets of equal length, and optionally each action's kind."""

    items: list[np.ndarray]
    gaps: list[np.ndarray]
    kinds: list[np.ndarray] | None = None

    @classmethod
    def from_actions(
        cls, items: Sequence[np.ndarray], times: Sequence[np.ndarray], kinds: Sequence[np.ndarray] | None = None
    ) -> ActionSequences:
        """Each user's item ids as int64, with the gap buckets of their action times (unix seconds)
        and, if given, their kinds (indices into ``INTERACTIONS``)."""
        return cls(
            [np.asarray(i, dtype=np.int64) for i in items],
            [gap_buckets(t) for t in times],
            None if kinds is None else [np.asarray(k, dtype=np.int64) for k in kinds],
        )

    def window(self, user: int, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Items, gaps and kinds (None without kinds) of ``user``'s actions ``start:end``."""
        kinds = None if self.kinds is None else self.kinds[user][start:end]
        return self.items[user][start:end], self.gaps[user][start:end], kinds


class PinnerFormerRecommender:
    """The ``Recommender`` protocol of ``models.leave_last_out`` around a ``PinnerFormer``; it also fits
    an ``AllActionSplit`` (``models.all_action``), whose histories it reads the same way.

    ``validation_score(recommender)`` (higher is better) picks the epoch to keep; by default the
    validation item's ``config.validation_metric``, which needs an ``EvaluationSplit``.
    ``on_epoch(epoch, loss, validation score)`` reports progress after each epoch. The model trains
    and embeds on ``device`` ("cpu", "cuda", "cuda:1"); what it returns and saves is on the CPU.
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
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = config or PinnerFormerConfig()
        self.device = torch.device(device)
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
        train = ActionSequences.from_actions(split.train, split.train_times, _train_kinds(split, config))
        stream = np.concatenate([np.empty(0, np.int64), *train.items])
        log_q = torch.from_numpy(log_q_from_counts(np.bincount(stream, minlength=split.n_items))).to(self.device)
        features = None if self.item_features is None else torch.as_tensor(self.item_features)
        bias_features = None if self.bias_features is None else torch.as_tensor(self.bias_features)
        words = _split_item_words(split, config.text_buckets)
        rng = np.random.default_rng(config.seed)
        score = self.validation_score
        validate = self._next_item_metric(split) if score is None else partial(score, self)

        with _forked_rng(self.device):
            torch.manual_seed(config.seed)
            model = PinnerFormer(config, split.n_items, features, bias_features, words).to(self.device)
            self.model = model
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
            loss = _loss_function(model, log_q)
            self.history = fit_epochs(
                model,
                lambda epoch: _train_epoch(model, optimizer, loss, train, rng),
                epochs=config.epochs,
                validate=validate,
                patience=config.patience,
                on_epoch=self.on_epoch,
            )

    def _next_item_metric(self, split: EvaluationSplit | AllActionSplit) -> Callable[[], float]:
        """The held-out next item's ``config.validation_metric`` (the leave-last-out protocol)."""
        if not isinstance(split, EvaluationSplit):
            raise TypeError("without a validation_score, fit needs an EvaluationSplit (a validation item per user)")
        validation = self._stage_sequences(np.arange(split.n_users), "validation")
        metric = self.config.validation_metric
        return lambda: rank_metrics(self._scores(validation), split.validation, validation.items, ks=(10,))[metric]

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
            return self._fitted().item_vectors().cpu().numpy()

    def save(self, path: Path) -> None:
        """Write the config and weights to one checkpoint file."""
        model = self._fitted()
        state = {"n_items": model.n_items, "model": {name: value.cpu() for name, value in model.state_dict().items()}}
        save_checkpoint(path, kind=CHECKPOINT_KIND, config=self.config, state=state)

    @classmethod
    def load(cls, path: Path, split: EvaluationSplit | AllActionSplit | None = None) -> PinnerFormerRecommender:
        """Rebuild a fitted recommender from ``save``'s file; ``split`` supplies the histories
        that ``scores`` reads. ``CheckpointError`` when the file is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=PinnerFormerConfig)
        try:
            features = state["model"].get("item_features")
            bias_features = state["model"].get("bias_features")
            words = (state["model"]["word_ids"], state["model"]["word_offsets"]) if "word_ids" in state["model"] else None
            model = PinnerFormer(config, int(state["n_items"]), features, bias_features, words)
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
        kinds = None
        if self.config.action_kinds:
            kinds = [_split_actions(split).history_actions(int(user), stage) for user in users]
        return ActionSequences(
            [np.asarray(split.history(int(user), stage), dtype=np.int64) for user in users],
            [gap_buckets(split.history_times(int(user), stage)) for user in users],
            kinds,
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
                    padded = pad_sequences(model, items, [sequences.gaps[r][-keep:] for r in rows])
                    kinds = None
                    if sequences.kinds is not None:
                        kinds = pad_kinds(model, [sequences.kinds[r][-keep:] for r in rows])
                    last_position = torch.as_tensor(np.maximum(lengths - 1, 0), device=model.device)
                    last = model.outputs_at(*padded, kinds, last_position).cpu().numpy()
                    vectors[start : start + len(items)] = np.where(lengths[:, None] > 0, last, 0.0)
        finally:
            model.train(was_training)
        return vectors

    def _scores(self, sequences: ActionSequences) -> np.ndarray:
        with torch.inference_mode():
            bias = self._fitted().item_bias().cpu().numpy()
        return self._user_vectors(sequences) @ self.item_vectors().T + bias[None, :]


def _forked_rng(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """The CPU's random state, and ``device``'s if it is a GPU, restored on leaving."""
    if device.type != "cuda":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[torch.cuda.current_device() if device.index is None else device.index])


def pad_sequences(
    model: PinnerFormer, items: list[np.ndarray], gaps: list[np.ndarray]
) -> tuple[Tensor, Tensor]:
    """Right-pad sequences to the longest one, on the model's device: item id ``n_items`` and gap bucket 0."""
    return _right_pad(items, model.n_items).to(model.device), _right_pad(gaps, 0).to(model.device)


def pad_kinds(model: PinnerFormer, kinds: list[np.ndarray]) -> Tensor:
    """Right-pad action kinds to the longest row with kind 0 (padding positions are never read), on
    the model's device."""
    return _right_pad(kinds, 0).to(model.device)


def _right_pad(rows: list[np.ndarray], fill: int) -> Tensor:
    """``[len(rows), longest]`` int64, each row left-aligned and ``fill`` after it."""
    padded = np.full((len(rows), max(len(row) for row in rows)), fill, dtype=np.int64)
    for number, row in enumerate(rows):
        padded[number, : len(row)] = row
    return torch.from_numpy(padded)


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


def _split_actions(split: EvaluationSplit | AllActionSplit) -> EvaluationSplit:
    """``split``, which must carry each interaction's action kind (``split_world`` fills them)."""
    if not isinstance(split, EvaluationSplit) or split.train_actions is None:
        raise ValueError("action_kinds needs an EvaluationSplit with train_actions")
    return split


def _train_kinds(split: EvaluationSplit | AllActionSplit, config: PinnerFormerConfig) -> list[np.ndarray] | None:
    """The training actions' kinds where the config reads them, else None."""
    return _split_actions(split).train_actions if config.action_kinds else None


def _split_item_words(split: EvaluationSplit | AllActionSplit, buckets: int) -> tuple[Tensor, Tensor] | None:
    """The split's item words (category and, where the split has it, text) in ``buckets``; None for 0."""
    if buckets == 0:
        return None
    texts = split.item_text if isinstance(split, EvaluationSplit) else [""] * split.n_items
    ids, offsets = item_words([str(category) for category in split.item_category], texts, buckets)
    return torch.from_numpy(ids), torch.from_numpy(offsets)


# (queries [n, dim], their target item ids [n], the items each query has seen [n, L], n_items
# padding) -> the mean loss
LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]


def _loss_function(model: PinnerFormer, log_q: Tensor) -> LossFunction:
    """Softmax cross entropy over every item up to ``config.full_softmax_items``; above, the shared
    sampled softmax over in-batch and ``random_negatives`` uniform items, logQ-corrected."""
    config = model.config
    sampler = NegativeSampler(model.n_items)

    def candidates() -> Tensor:
        # The bias rides on one more coordinate: (user, 1) . (item, bias) = cosine + bias.
        return torch.cat([model.item_vectors(), model.item_bias()[:, None]], dim=1)

    def with_bias_coordinate(queries: Tensor) -> Tensor:
        return torch.cat([queries, torch.ones_like(queries[:, :1])], dim=1)

    def full_softmax(queries: Tensor, positive_ids: Tensor, seen: Tensor) -> Tensor:
        logits = with_bias_coordinate(queries) @ candidates().T / config.temperature
        if config.exclude_seen:
            # Ranking excludes the history, so the softmax need not push those items down.
            mask = torch.zeros(len(seen), model.n_items + 1, dtype=torch.bool, device=seen.device)
            mask = mask.scatter_(1, seen, True)[:, :-1]
            mask[torch.arange(len(seen), device=seen.device), positive_ids] = False
            logits = logits.masked_fill(mask, float("-inf"))
        return F.cross_entropy(logits, positive_ids)

    def sampled_softmax(queries: Tensor, positive_ids: Tensor, seen: Tensor) -> Tensor:
        table = candidates()
        random_ids, random_log_q = (drawn.to(model.device) for drawn in sampler.draw(config.random_negatives))
        return sampled_softmax_loss(
            with_bias_coordinate(queries),
            table[positive_ids],
            positive_log_q=log_q[positive_ids],
            random_negatives=table[random_ids],
            random_log_q=random_log_q,
            positive_ids=positive_ids,
            random_ids=random_ids,
            temperature=config.temperature,
        )

    return full_softmax if model.n_items <= config.full_softmax_items else sampled_softmax


def _train_epoch(
    model: PinnerFormer,
    optimizer: torch.optim.Optimizer,
    loss_function: LossFunction,
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
        items, gaps, kinds, rows, positions, target_ids = [], [], [], [], [], []
        for row, (user, start, end) in enumerate(batch):
            sequence = train.items[user]
            window_items, window_gaps, window_kinds = train.window(user, start, end)
            items.append(window_items)
            gaps.append(window_gaps)
            kinds.append(window_kinds)
            at, targets = objective_targets(config.objective, config.window, len(sequence), start, end, rng)
            rows.append(np.full(len(at), row))
            positions.append(at)
            target_ids.append(sequence[targets])
        padded_items, padded_gaps = pad_sequences(model, items, gaps)
        padded_kinds = None if train.kinds is None else pad_kinds(model, kinds)
        rows_at, positions_at, positive_ids = (
            torch.from_numpy(np.concatenate(part)).to(model.device) for part in (rows, positions, target_ids)
        )
        queries = model(padded_items, padded_gaps, padded_kinds)[rows_at, positions_at]
        later = torch.arange(padded_items.shape[1], device=model.device)[None, :] > positions_at[:, None]
        seen = padded_items[rows_at].masked_fill(later, model.n_items)
        total += descend(loss_function(queries, positive_ids, seen), [optimizer]) * len(positive_ids)
        count += len(positive_ids)
    return total / count if count else math.nan
