"""Every pin's vector read from a model's checkpoint without its network (and without torch):
what serving needs of a version whose vectors were all computed at materialization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.checkpoint import CheckpointError, load_checkpoint

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class PinVectorFile:
    """Distinct pin ids int64 ``[n]`` and their vectors float32 ``[n, dim]``, row-aligned."""

    pin_ids: np.ndarray
    vectors: np.ndarray

    @classmethod
    def read(
        cls, path: Path, *, kind: str, config_type: type[DataclassInstance], ids_key: str, vectors_key: str
    ) -> PinVectorFile:
        """The state's ``ids_key`` and ``vectors_key`` of a ``kind`` checkpoint whose config has the
        vectors' ``dim``; ``CheckpointError`` when the file lacks them or they do not fit."""
        config, state = load_checkpoint(Path(path), kind=kind, config_type=config_type, as_numpy=True)
        return cls.from_state(path, getattr(config, "dim", None), state, ids_key=ids_key, vectors_key=vectors_key)

    @classmethod
    def from_state(
        cls, path: Path, dim: int | None, state: Mapping[str, Any], *, ids_key: str, vectors_key: str
    ) -> PinVectorFile:
        """The pin vectors of a checkpoint ``state`` read from ``path`` (named in errors), ``dim`` wide;
        ``CheckpointError`` when the state lacks them or they do not fit."""
        try:
            pin_ids = np.asarray(state[ids_key], dtype=np.int64)
            vectors = np.asarray(state[vectors_key], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} holds no pin vectors: {error}") from error
        if pin_ids.ndim != 1 or vectors.shape != (len(pin_ids), dim) or len(np.unique(pin_ids)) != len(pin_ids):
            raise CheckpointError(
                f"checkpoint {path}: {vectors.shape} vectors for {pin_ids.shape} pin ids (distinct) of width {dim}"
            )
        return cls(pin_ids, vectors)
