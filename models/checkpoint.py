"""Versioned, atomic model checkpoints: a dataclass config stored beside the model's state.

A checkpoint is one safetensors file. Every tensor and numpy array of the state is a tensor of
the file; the rest (kind, format version, config, the state's plain data with the place of each
tensor in it) is JSON in the file's metadata, beside a SHA-256 of the tensors. Loading parses
JSON and raw tensor bytes only, so it never unpickles anything: the state may hold tensors,
numpy arrays of torch's dtypes, and dicts (with text keys), lists, tuples and scalars of them.
Loading with ``as_numpy`` gives every tensor as a numpy array and never imports torch: that is
how the service reads its models (``models.served``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from safetensors import safe_open

from core.atomic_files import atomic_path

if TYPE_CHECKING:
    import torch
    from _typeshed import DataclassInstance

FORMAT_VERSION = 2
HEADER_KEY, DIGEST_KEY = "corkboard", "sha256"  # the file's metadata entries
_FIELDS = {"kind", "format_version", "config", "state"}
_TENSOR, _ARRAY, _TUPLE = "__tensor__", "__numpy__", "__tuple__"
_PLAIN = (str, int, float, bool, type(None))

C = TypeVar("C", bound="DataclassInstance")


class CheckpointError(Exception):
    """A checkpoint file cannot be used: missing, damaged, or written for another model."""


def save_checkpoint(path: Path, *, kind: str, config: object, state: dict[str, Any]) -> None:
    """Write ``kind``, the format version, ``config`` (a dataclass) and ``state`` to ``path``.

    The file appears whole or not at all (``core.atomic_files.atomic_path``). A state holding
    anything else than the module docstring lists raises TypeError before a file is written.
    """
    from safetensors.torch import save_file

    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    header = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "config": _pack(dataclasses.asdict(config), tensors),
        "state": _pack(state, tensors),
    }
    metadata = {HEADER_KEY: json.dumps(header), DIGEST_KEY: tensor_digest(tensors)}
    with atomic_path(path) as temporary:
        save_file(tensors, temporary, metadata=metadata)


def load_checkpoint(
    path: Path, *, kind: str, config_type: type[C], as_numpy: bool = False
) -> tuple[C, dict[str, Any]]:
    """Read a checkpoint written by ``save_checkpoint`` and rebuild its ``config_type`` config;
    with ``as_numpy``, the state's tensors come back as numpy arrays, without torch.

    Raises ``CheckpointError`` naming the file when it is missing, corrupt or truncated, not a
    corkboard checkpoint (a pickle, another program's safetensors), holds another kind of model,
    has an unknown format version, or its config does not match ``config_type``'s fields.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        with safe_open(path, framework="np" if as_numpy else "pt", device="cpu") as file:
            metadata = file.metadata() or {}
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except Exception as error:  # safetensors reports every kind of damage as its own error
        raise CheckpointError(
            f"checkpoint {path} is corrupt, truncated or not a safetensors file "
            f"({type(error).__name__}: {str(error)[:200]})"
        ) from error
    header = _header(path, metadata)
    if header["kind"] != kind:
        raise CheckpointError(f"checkpoint {path} holds a {header['kind']!r} model, expected {kind!r}")
    if header["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {header['format_version']!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    if metadata[DIGEST_KEY] != tensor_digest(tensors):
        raise CheckpointError(f"checkpoint {path} is corrupt: its tensors do not match their checksum")
    try:
        config, state = _unpack(header["config"], tensors), _unpack(header["state"], tensors)
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt: its state names a missing tensor") from error
    return _build_config(path, config_type, config), state


def tensor_digest(tensors: dict[str, torch.Tensor] | dict[str, np.ndarray]) -> str:
    """SHA-256 of every tensor's name, dtype, shape and bytes, in name order; a numpy array
    digests as the torch tensor of its dtype and values."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = _as_array(tensors[name])
        digest.update(f"{name}:torch.{array.dtype.name}:{array.shape};".encode())
        digest.update(array.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def _as_array(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """A C-contiguous numpy array of ``tensor``'s values (sharing its memory where it can)."""
    return np.ascontiguousarray(tensor if isinstance(tensor, np.ndarray) else tensor.contiguous().numpy())


def _header(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The checkpoint's JSON header; CheckpointError when the file has none."""
    try:
        header = json.loads(metadata[HEADER_KEY])
    except (KeyError, ValueError):
        header = None
    if not isinstance(header, dict) or not _FIELDS <= set(header) or DIGEST_KEY not in metadata:
        raise CheckpointError(f"checkpoint {path} is a safetensors file but not a corkboard checkpoint")
    return header


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


def _pack(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` as JSON data, its tensors and arrays moved to ``tensors`` and named in their
    place; anything JSON and safetensors cannot hold is refused now, not at load."""
    import torch

    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value) or set(value) in ({_TENSOR}, {_ARRAY}, {_TUPLE}):
            raise TypeError(f"a checkpoint's dicts need text keys other than the tags; got {list(value)[:5]}")
        return {key: _pack(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [_pack(item, tensors) for item in value]
    if isinstance(value, tuple):
        return {_TUPLE: [_pack(item, tensors) for item in value]}
    if isinstance(value, torch.Tensor):
        return {_TENSOR: _keep(value, tensors)}
    if isinstance(value, np.ndarray):
        return {_ARRAY: _keep(torch.from_numpy(np.ascontiguousarray(value)), tensors)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _keep(tensor: torch.Tensor, tensors: dict[str, torch.Tensor]) -> str:
    """Add a copy of ``tensor`` to ``tensors``; returns its name."""
    name = str(len(tensors))
    # A copy of its own: safetensors refuses tensors that share memory (tied weights, views).
    tensors[name] = tensor.detach().to("cpu", copy=True).contiguous()
    return name


def _unpack(value: Any, tensors: dict[str, torch.Tensor] | dict[str, np.ndarray]) -> Any:
    """The data ``_pack`` gave ``value`` for, its tensors and arrays taken from ``tensors``."""
    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            return tensors[value[_TENSOR]]
        if set(value) == {_ARRAY}:
            return _as_array(tensors[value[_ARRAY]])
        if set(value) == {_TUPLE}:
            return tuple(_unpack(item, tensors) for item in value[_TUPLE])
        return {key: _unpack(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item, tensors) for item in value]
    return value
