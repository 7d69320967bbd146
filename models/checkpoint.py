"""Versioned, atomic model checkpoints: a dataclass config stored beside the model's state.

Files are read with ``torch.load(weights_only=True)``, so loading never runs pickled code:
the state may hold only tensors, numpy arrays (stored as tensors) and plain Python data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from core.atomic_files import atomic_path

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FORMAT_VERSION = 1
_NUMPY_TAG = "__numpy__"
_FIELDS = {"kind", "format_version", "config", "state"}
_PLAIN = (str, int, float, bool, type(None), torch.Tensor)

C = TypeVar("C", bound="DataclassInstance")


class CheckpointError(Exception):
    """A checkpoint file cannot be used: missing, damaged, or written for another model."""


def save_checkpoint(path: Path, *, kind: str, config: object, state: dict[str, Any]) -> None:
    """Write ``kind``, the format version, ``config`` (a dataclass) and ``state`` to ``path``.

    The file appears whole or not at all (``core.atomic_files.atomic_path``).
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    payload = _pack(
        {
            "kind": kind,
            "format_version": FORMAT_VERSION,
            "config": dataclasses.asdict(config),
            "state": state,
        }
    )
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: Path, *, kind: str, config_type: type[C]) -> tuple[C, dict[str, Any]]:
    """Read a checkpoint written by ``save_checkpoint`` and rebuild its ``config_type`` config.

    Raises ``CheckpointError`` naming the file when it is missing, corrupt or truncated, holds
    another kind of model, has an unknown format version, or its config does not match
    ``config_type``'s fields.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # damage surfaces as zip, unpickling or EOF errors alike
        raise CheckpointError(
            f"checkpoint {path} is corrupt, truncated or not a torch file "
            f"({type(error).__name__}: {str(error)[:200]})"
        ) from error
    if not isinstance(payload, dict) or not _FIELDS <= set(payload):
        raise CheckpointError(f"checkpoint {path} is a torch file but not a corkboard checkpoint")
    if payload["kind"] != kind:
        raise CheckpointError(
            f"checkpoint {path} holds a {payload['kind']!r} model, expected {kind!r}"
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['format_version']!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    payload = _unpack(payload)
    return _build_config(path, config_type, payload["config"]), payload["state"]


def _build_config(path: Path, config_type: type[C], values: Any) -> C:
    if not isinstance(values, dict):
        raise CheckpointError(
            f"checkpoint {path} stores its config as {type(values).__name__}, not a dict"
        )
    expected = {field.name for field in dataclasses.fields(config_type) if field.init}
    missing, unexpected = sorted(expected - set(values)), sorted(set(values) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} config does not match {config_type.__name__}: "
            f"missing fields {missing}, unexpected fields {unexpected}"
        )
    try:
        return config_type(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path} config is invalid for {config_type.__name__}: {error}"
        ) from error


def _pack(value: Any) -> Any:
    """Turn ``value`` into data that ``weights_only`` loading accepts; reject anything else now."""
    if isinstance(value, dict):
        return {key: _pack(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(item) for item in value)
    if isinstance(value, np.ndarray):
        return {_NUMPY_TAG: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    # Failing at save time beats writing a file that weights_only loading will refuse.
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_NUMPY_TAG}:
            return value[_NUMPY_TAG].numpy()
        return {key: _unpack(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_unpack(item) for item in value)
    return value
