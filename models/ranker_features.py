"""Turn (user, pin, context) rows into the ranker's float32 input, in three cacheable blocks.

The input row is ``[user block | pin block | pair block]``:
- user block: the user's numeric and categorical columns; computed once per request;
- pin block: the pin's columns; computed once for every pin and cached by the service;
- pair block: cosine and elementwise product of a user vector and a pin vector, the user's
  interest in the pin's category, one cosine per learned representation named in
  ``similarities`` (``models.ranker_similarities``), and ``log1p(position)``; the only part
  computed per (user, pin) pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

COUNT_WORDS = ("impressions", "clicks", "saves", "long_clicks", "hides")
COUNT_WINDOWS = ("_7d", "_30d")


def is_count_column(name: str) -> bool:
    """True for windowed event counts such as ``clicks_7d``; these are log1p-scaled."""
    counted = any(name.startswith(f"{word}_") for word in COUNT_WORDS)
    return counted and name.endswith(COUNT_WINDOWS)


@dataclass
class _ColumnBlock:
    """Standardized numeric columns followed by one-hot categorical columns (last slot: unknown)."""

    numeric: list[str]
    means: np.ndarray
    stds: np.ndarray
    log_columns: list[str]
    categorical: list[str]
    vocabularies: list[list[str]]
    _indexes: list[pd.Index] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._indexes = [pd.Index(vocabulary) for vocabulary in self.vocabularies]

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        log_columns: set[str],
    ) -> _ColumnBlock:
        logged = [name for name in numeric if name in log_columns]
        values = _numeric_values(frame, list(numeric), logged)
        present = ~np.isnan(values)
        counts = np.maximum(present.sum(axis=0), 1)
        means = np.where(present, values, 0.0).sum(axis=0) / counts
        stds = np.sqrt(np.where(present, (values - means) ** 2, 0.0).sum(axis=0) / counts)
        # A constant column keeps scale 1 so it encodes to 0 rather than dividing by zero.
        stds = np.where(stds > 1e-12, stds, 1.0)
        vocabularies = [
            sorted(frame[name].dropna().astype(str).unique().tolist()) for name in categorical
        ]
        return cls(list(numeric), means, stds, logged, list(categorical), vocabularies)

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(vocabulary) + 1 for vocabulary in self.vocabularies)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        rows = len(frame)
        out = np.zeros((rows, self.width), dtype=np.float32)
        values = _numeric_values(frame, self.numeric, self.log_columns)
        values = np.where(np.isnan(values), self.means, values)
        out[:, : len(self.numeric)] = (values - self.means) / self.stds
        offset = len(self.numeric)
        for name, index in zip(self.categorical, self._indexes):
            column = frame[name]
            codes = index.get_indexer(column.astype(str))
            unknown = (codes < 0) | column.isna().to_numpy()
            codes[unknown] = len(index)
            out[np.arange(rows), offset + codes] = 1.0
            offset += len(index) + 1
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "log_columns": list(self.log_columns),
            "categorical": list(self.categorical),
            "vocabularies": [list(vocabulary) for vocabulary in self.vocabularies],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _ColumnBlock:
        return cls(
            numeric=list(state["numeric"]),
            means=np.asarray(state["means"], dtype=np.float64),
            stds=np.asarray(state["stds"], dtype=np.float64),
            log_columns=list(state["log_columns"]),
            categorical=list(state["categorical"]),
            vocabularies=[list(vocabulary) for vocabulary in state["vocabularies"]],
        )


def _numeric_values(frame: pd.DataFrame, columns: list[str], logged: list[str]) -> np.ndarray:
    """The columns as float64 (missing -> NaN), count columns through log1p."""
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for position, name in enumerate(columns):
        column = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        # Counts are non-negative; clipping guards log1p against bad upstream data.
        values[:, position] = np.log1p(np.clip(column, 0.0, None)) if name in logged else column
    return values


class FeatureEncoder:
    """Fitted column statistics and vocabularies that encode ranker inputs block by block."""

    def __init__(
        self, user: _ColumnBlock, pin: _ColumnBlock, vector_dim: int, similarities: tuple[str, ...] = ()
    ) -> None:
        self.user = user
        self.pin = pin
        self.vector_dim = vector_dim
        self.similarities = tuple(similarities)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        user_numeric: Sequence[str] = (),
        user_categorical: Sequence[str] = (),
        pin_numeric: Sequence[str] = (),
        pin_categorical: Sequence[str] = (),
        vector_dim: int,
        similarities: Sequence[str] = (),
        log_columns: Sequence[str] | None = None,
    ) -> FeatureEncoder:
        """Learn numeric means/stds and categorical vocabularies from a training frame.

        Numeric columns are log1p-scaled if listed in ``log_columns`` (default: the names
        ``is_count_column`` accepts, e.g. ``saves_30d``), then a missing value takes the
        training mean and every value is standardized. Categorical columns become one-hot
        over the training vocabulary plus one slot for unseen or missing values. ``similarities``
        names the learned-embedding cosines of the pair block, in their column order.
        """
        if vector_dim < 1:
            raise ValueError(f"vector_dim must be positive, got {vector_dim}")
        numeric = [*user_numeric, *pin_numeric]
        if log_columns is None:
            log_columns = [name for name in numeric if is_count_column(name)]
        logged = set(log_columns)
        user = _ColumnBlock.fit(frame, user_numeric, user_categorical, logged)
        pin = _ColumnBlock.fit(frame, pin_numeric, pin_categorical, logged)
        return cls(user, pin, vector_dim, tuple(similarities))

    @property
    def user_dim(self) -> int:
        return self.user.width

    @property
    def pin_dim(self) -> int:
        return self.pin.width

    @property
    def pair_dim(self) -> int:
        return self.vector_dim + 3 + len(self.similarities)

    @property
    def input_dim(self) -> int:
        """Width of an assembled row, the ranker's ``input_dim``."""
        return self.user_dim + self.pin_dim + self.pair_dim

    def encode_users(self, frame: pd.DataFrame) -> np.ndarray:
        """The user block, ``[len(frame), user_dim]`` float32."""
        return self.user.encode(frame)

    def encode_pins(self, frame: pd.DataFrame) -> np.ndarray:
        """The pin block, ``[len(frame), pin_dim]`` float32; cache it for the whole catalogue."""
        return self.pin.encode(frame)

    def pair_block(
        self,
        user_vectors: np.ndarray,
        pin_vectors: np.ndarray,
        position: np.ndarray | float,
        interest: np.ndarray | float = 0.0,
        similarities: np.ndarray | None = None,
    ) -> np.ndarray:
        """Cosine, elementwise product, interest, the learned similarities and ``log1p(position)``:
        ``[n, pair_dim]`` float32.

        ``interest`` is the user's share of engagement in each pin's category (see
        ``models.interests``); ``similarities`` is ``[n, len(self.similarities)]`` (see
        ``models.ranker_similarities.similarity_columns``), required when the encoder names any.

        ``user_vectors`` may have one row (one request) and is broadcast over the pins.
        Training passes the logged display position; serving passes ``position=0`` for
        every candidate, so the position bias the model learned is the same constant for
        all of them and drops out of the ranking.
        """
        users = np.atleast_2d(np.asarray(user_vectors, dtype=np.float32))
        pins = np.atleast_2d(np.asarray(pin_vectors, dtype=np.float32))
        for name, vectors in (("user_vectors", users), ("pin_vectors", pins)):
            if vectors.shape[1] != self.vector_dim:
                raise ValueError(
                    f"{name} have dimension {vectors.shape[1]}, expected {self.vector_dim}"
                )
        product = users * pins
        norms = np.linalg.norm(users, axis=1) * np.linalg.norm(pins, axis=1)
        # A zero vector (no history, no embedding) gets cosine 0 instead of NaN.
        cosine = product.sum(axis=1) / np.maximum(norms, 1e-12)
        positions = np.broadcast_to(np.asarray(position, dtype=np.float32), cosine.shape)
        interests = np.broadcast_to(np.asarray(interest, dtype=np.float32), cosine.shape)
        learned = np.zeros((len(cosine), 0), dtype=np.float32) if similarities is None else similarities
        if learned.shape != (len(cosine), len(self.similarities)):
            expected = (len(cosine), len(self.similarities))
            raise ValueError(f"similarities have shape {learned.shape}, expected {expected}")
        pair = np.column_stack([cosine, product, interests, learned, np.log1p(positions)])
        return pair.astype(np.float32, copy=False)

    def assemble(
        self, user_block: np.ndarray, pin_block: np.ndarray, pair_block: np.ndarray
    ) -> np.ndarray:
        """The blocks side by side as ``[n, input_dim]`` float32; one user row is broadcast."""
        rows = pin_block.shape[0]
        expected = (
            ("user", user_block, self.user_dim),
            ("pin", pin_block, self.pin_dim),
            ("pair", pair_block, self.pair_dim),
        )
        for name, block, width in expected:
            if block.ndim != 2 or block.shape[1] != width:
                raise ValueError(f"{name} block has shape {block.shape}, expected width {width}")
        if user_block.shape[0] not in (1, rows) or pair_block.shape[0] != rows:
            raise ValueError(
                f"row counts differ: user {user_block.shape[0]}, pin {rows}, "
                f"pair {pair_block.shape[0]}"
            )
        out = np.empty((rows, self.input_dim), dtype=np.float32)
        out[:, : self.user_dim] = user_block
        out[:, self.user_dim : self.user_dim + self.pin_dim] = pin_block
        out[:, self.user_dim + self.pin_dim :] = pair_block
        return out

    def encode(
        self,
        frame: pd.DataFrame,
        user_vectors: np.ndarray,
        pin_vectors: np.ndarray,
        position: np.ndarray | float,
        interest: np.ndarray | float = 0.0,
        similarities: np.ndarray | None = None,
    ) -> np.ndarray:
        """All three blocks for rows that carry both user and pin columns (training data)."""
        pair = self.pair_block(user_vectors, pin_vectors, position, interest, similarities)
        return self.assemble(self.encode_users(frame), self.encode_pins(frame), pair)

    def to_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint; ``from_state`` rebuilds an identical encoder."""
        return {
            "user": self.user.to_state(),
            "pin": self.pin.to_state(),
            "vector_dim": self.vector_dim,
            "similarities": list(self.similarities),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureEncoder:
        """Rebuild the encoder saved by ``to_state``."""
        return cls(
            _ColumnBlock.from_state(state["user"]),
            _ColumnBlock.from_state(state["pin"]),
            int(state["vector_dim"]),
            tuple(state.get("similarities", ())),
        )
