"""Checkpoint files: round trip, atomic writes, and every way a file can be unusable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


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


def test_torch_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    _expect_error(path, "not a corkboard checkpoint")


def test_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    _write(path)
    _expect_error(path, "'tiny' model, expected 'ranker'", kind="ranker")


def test_unknown_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    torch.save({"kind": "tiny", "format_version": 99, "config": {"width": 1}, "state": {}}, path)
    _expect_error(path, "format version 99")


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
