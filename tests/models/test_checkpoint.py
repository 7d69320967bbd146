"""Checkpoint files: round trip, atomic writes, no unpickling, and every way a file can be unusable."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from models.checkpoint import DIGEST_KEY, HEADER_KEY, CheckpointError, load_checkpoint, save_checkpoint


@dataclass
class TinyConfig:
    width: int
    names: tuple[str, ...] = ("a", "b")
    rate: float = 0.5


@dataclass
class OtherConfig:
    width: int
    depth: int = 2


def _write(path: Path) -> None:
    state = {"weights": torch.arange(6.0).reshape(2, 3), "means": np.array([1.5, -2.0])}
    state["tag"] = "x"
    save_checkpoint(path, kind="tiny", config=TinyConfig(width=3), state=state)


def test_round_trip_restores_config_and_state(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    _write(path)
    config, state = load_checkpoint(path, kind="tiny", config_type=TinyConfig)
    assert config == TinyConfig(width=3)
    assert torch.equal(state["weights"], torch.arange(6.0).reshape(2, 3))
    assert isinstance(state["means"], np.ndarray)
    np.testing.assert_array_equal(state["means"], [1.5, -2.0])
    assert state["tag"] == "x"


def test_save_leaves_no_temporary_file_and_replaces_old(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "tiny.pt"
    _write(path)
    save_checkpoint(path, kind="tiny", config=TinyConfig(width=7), state={})
    assert [child.name for child in path.parent.iterdir()] == ["tiny.pt"]
    assert load_checkpoint(path, kind="tiny", config_type=TinyConfig)[0].width == 7


def test_state_that_cannot_be_loaded_safely_is_refused_at_save(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    with pytest.raises(TypeError, match="Path"):
        save_checkpoint(path, kind="tiny", config=TinyConfig(width=1), state={"where": tmp_path})
    assert not path.exists() and not list(tmp_path.iterdir())


def _expect_error(
    path: Path, match: str, *, kind: str = "tiny", config_type: type = TinyConfig
) -> None:
    with pytest.raises(CheckpointError, match=match) as caught:
        load_checkpoint(path, kind=kind, config_type=config_type)
    assert path.name in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "absent.pt", "does not exist")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _expect_error(path, "corrupt")


@pytest.mark.parametrize("keep", [0, 0.5])
def test_truncated_file(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "cut.pt"
    _write(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _expect_error(path, "corrupt")


def test_safetensors_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, path, metadata={"format": "pt"})
    _expect_error(path, "not a corkboard checkpoint")


def test_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    _write(path)
    _expect_error(path, "'tiny' model, expected 'ranker'", kind="ranker")


def test_unknown_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    header = {"kind": "tiny", "format_version": 99, "config": {"width": 1}, "state": {}}
    save_file({}, path, metadata={HEADER_KEY: json.dumps(header), DIGEST_KEY: ""})
    _expect_error(path, "format version 99")


def test_changed_tensor_bytes_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "flipped.pt"
    _write(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last byte of the tensor data, after the header
    path.write_bytes(bytes(data))
    _expect_error(path, "do not match their checksum")


class _Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_a_pickle_payload_is_refused_without_running_it(tmp_path: Path, writer: str) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    payload = {"kind": "tiny", "format_version": 1, "config": {"width": 1}, "state": _Payload(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    _expect_error(path, "not a safetensors file")
    assert not marker.exists()


def test_loading_never_reaches_an_unpickler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tiny.pt"
    _write(path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a checkpoint load unpickled")

    for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(module, name, refuse)
    config, state = load_checkpoint(path, kind="tiny", config_type=TinyConfig)
    assert config.width == 3 and state["tag"] == "x"


def test_nested_plain_data_and_shared_tensors_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested.pt"
    weights = torch.arange(6.0)
    state = {
        "model": {"a": weights, "tied": weights, "view": weights[:2]},
        "encoder": {"vocab": [["x", "y"], []], "pair": (1, 2.5, None), "flag": True},
        "ids": np.array([3, 1, 2], dtype=np.int64),
        "mask": np.array([True, False]),
        "count": np.int64(7),
    }
    save_checkpoint(path, kind="tiny", config=TinyConfig(width=1, names=("p", "q")), state=state)
    config, loaded = load_checkpoint(path, kind="tiny", config_type=TinyConfig)
    assert config.names == ("p", "q")
    assert torch.equal(loaded["model"]["tied"], weights) and torch.equal(loaded["model"]["view"], weights[:2])
    assert loaded["encoder"] == {"vocab": [["x", "y"], []], "pair": (1, 2.5, None), "flag": True}
    assert loaded["ids"].dtype == np.int64 and loaded["ids"].tolist() == [3, 1, 2]
    assert loaded["mask"].dtype == np.bool_ and loaded["count"] == 7


def test_dicts_with_keys_json_would_change_are_refused_at_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="text keys"):
        save_checkpoint(tmp_path / "k.pt", kind="tiny", config=TinyConfig(width=1), state={"by_id": {1: "a"}})
    assert not list(tmp_path.iterdir())


def test_config_fields_that_do_not_match(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    _write(path)
    mismatch = r"missing fields \['depth'\], unexpected fields \['names', 'rate'\]"
    _expect_error(path, mismatch, config_type=OtherConfig)


def test_config_values_the_dataclass_rejects(tmp_path: Path) -> None:
    @dataclass
    class Checked:
        width: int
        names: tuple[str, ...]
        rate: float

        def __post_init__(self) -> None:
            if self.width > 2:
                raise ValueError("width too large")

    path = tmp_path / "tiny.pt"
    _write(path)
    _expect_error(path, "width too large", config_type=Checked)
