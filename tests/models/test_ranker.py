"""MultiTaskRanker: learns planted signals, trains deterministically, survives a checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.checkpoint import CheckpointError, save_checkpoint
from models.metrics import auc
from models.ranker import MultiTaskRanker, RankerConfig, load_ranker, save_ranker, train_ranker
from models.ranker_config import ACTIONS
from models.served.ranker import ServedRanker
from models.ranker_features import FeatureEncoder

PLANTED = ("click", "save", "long_click")


def _planted_data(
    rows: int, rng: np.random.Generator, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Labels of click/save/long_click drawn from logistic models; hide is pure noise."""
    features = rng.normal(size=(rows, weights.shape[0])).astype(np.float32)
    logits = features @ weights - 0.5
    labels = np.empty((rows, len(ACTIONS)), dtype=np.float32)
    labels[:, :3] = rng.random((rows, 3)) < 1.0 / (1.0 + np.exp(-logits))
    labels[:, 3] = rng.random(rows) < 0.3
    return features, labels


def _small_config(input_dim: int, **overrides: Any) -> RankerConfig:
    config = RankerConfig(input_dim=input_dim, hidden=(32, 16), epochs=4, batch_size=256, lr=5e-3)
    return dataclasses.replace(config, **overrides)


def test_ranker_learns_planted_heads_and_not_noise() -> None:
    rng = np.random.default_rng(7)
    weights = rng.normal(scale=0.8, size=(8, 3))
    train_x, train_y = _planted_data(12_000, rng, weights)
    test_x, test_y = _planted_data(4_000, rng, weights)
    epochs: list[tuple[int, float]] = []
    model, report = train_ranker(
        train_x, train_y, _small_config(8), on_epoch=lambda *progress: epochs.append(progress)
    )
    probs = model.predict(test_x)
    assert probs.shape == (4_000, 4) and probs.dtype == np.float32
    for column, name in enumerate(ACTIONS):
        score = auc(test_y[:, column], probs[:, column])
        calibrated = report.valid_calibration[name]
        if name in PLANTED:
            assert score > 0.7, (name, score)
            assert report.valid_auc[name] > 0.7
            assert calibrated.predicted == pytest.approx(calibrated.observed, abs=0.05)
        else:
            assert abs(score - 0.5) < 0.05, (name, score)
            # Pure noise: only the base rate is learnable, so the mean lands near it.
            assert calibrated.predicted == pytest.approx(0.3, abs=0.08)
    assert [epoch for epoch, _ in epochs] == [1, 2, 3, 4]
    assert [loss for _, loss in epochs] == report.history.train_loss
    assert report.history.train_loss[-1] < report.history.train_loss[0]
    assert (report.n_train, report.n_valid) == (10_800, 1_200)


def test_training_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    features, labels = _planted_data(2_000, rng, rng.normal(size=(5, 3)))
    first, first_report = train_ranker(features, labels, _small_config(5, epochs=2))
    second, second_report = train_ranker(features, labels, _small_config(5, epochs=2))
    other, _ = train_ranker(features, labels, _small_config(5, epochs=2, seed=3))
    assert first_report.history.train_loss == second_report.history.train_loss
    np.testing.assert_array_equal(first.predict(features), second.predict(features))
    assert not np.array_equal(first.predict(features), other.predict(features))


def test_bad_inputs_are_refused() -> None:
    config = _small_config(3)
    with pytest.raises(ValueError, match="features have shape"):
        train_ranker(np.zeros((10, 4)), np.zeros((10, 4)), config)
    with pytest.raises(ValueError, match="labels have shape"):
        train_ranker(np.zeros((10, 3)), np.zeros((10, 2)), config)
    with pytest.raises(ValueError, match="0 or 1"):
        train_ranker(np.zeros((10, 3)), np.full((10, 4), 0.5), config)


def _trained_with_encoder() -> tuple[MultiTaskRanker, FeatureEncoder, np.ndarray]:
    rng = np.random.default_rng(2)
    rows = 600
    frame = pd.DataFrame(
        {
            "age": rng.normal(35, 10, rows),
            "country": rng.choice(["fr", "us", "de"], rows),
            "saves_30d": rng.poisson(4, rows),
            "category": rng.choice(["food", "diy", "art"], rows),
        }
    )
    user_vectors, pin_vectors = rng.normal(size=(rows, 4)), rng.normal(size=(rows, 4))
    encoder = FeatureEncoder.fit(
        frame,
        user_numeric=["age"],
        user_categorical=["country"],
        pin_numeric=["saves_30d"],
        pin_categorical=["category"],
        vector_dim=4,
    )
    features = encoder.encode(frame, user_vectors, pin_vectors, position=rng.integers(0, 20, rows))
    labels = (rng.random((rows, len(ACTIONS))) < 0.3).astype(np.float32)
    model, _ = train_ranker(features, labels, _small_config(encoder.input_dim, epochs=1))
    return model, encoder, features


def test_checkpoint_round_trip_reproduces_predictions_exactly(tmp_path: Path) -> None:
    model, encoder, features = _trained_with_encoder()
    path = tmp_path / "ranker.pt"
    save_ranker(path, model, encoder)
    loaded, loaded_encoder = load_ranker(path)
    assert loaded.config == model.config
    assert not loaded.training
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    assert loaded_encoder.to_state() == encoder.to_state()


def test_the_served_ranker_predicts_as_the_torch_one(tmp_path: Path) -> None:
    model, encoder, features = _trained_with_encoder()
    path = tmp_path / "ranker.pt"
    save_ranker(path, model, encoder)
    served, served_encoder = ServedRanker.load(path)
    assert served.config == model.config and served_encoder.to_state() == encoder.to_state()
    probs = served.predict(features)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, model.predict(features), rtol=0, atol=1e-6)
    heads = served.predict_heads(features[:5])
    assert list(heads) == list(ACTIONS) and heads["hide"].shape == (5,)
    np.testing.assert_allclose(heads["save"], probs[:5, ACTIONS.index("save")], rtol=0, atol=1e-6)


LOADERS = pytest.mark.parametrize("load", [load_ranker, ServedRanker.load], ids=["torch", "served"])


@LOADERS
def test_checkpoint_with_a_mismatched_config_is_refused(tmp_path: Path, load) -> None:
    @dataclass
    class OldRankerConfig:
        input_dim: int
        layers: int = 2

    path = tmp_path / "old_ranker.pt"
    save_checkpoint(path, kind="ranker", config=OldRankerConfig(input_dim=4), state={})
    with pytest.raises(CheckpointError, match="old_ranker.pt.*does not match RankerConfig"):
        load(path)


@LOADERS
def test_checkpoint_of_another_kind_is_refused(tmp_path: Path, load) -> None:
    path = tmp_path / "tower.pt"
    save_checkpoint(path, kind="query_tower", config=RankerConfig(input_dim=4), state={})
    with pytest.raises(CheckpointError, match="tower.pt.*'query_tower' model, expected 'ranker'"):
        load(path)


@LOADERS
def test_checkpoint_whose_weights_do_not_fit_the_config_is_refused(tmp_path: Path, load) -> None:
    model, encoder, _ = _trained_with_encoder()
    path = tmp_path / "ranker.pt"
    wrong = dataclasses.replace(model.config, hidden=(8,))
    state = {"model": dict(model.state_dict()), "encoder": encoder.to_state()}
    save_checkpoint(path, kind="ranker", config=wrong, state=state)
    with pytest.raises(CheckpointError, match="ranker.pt.*does not fit its config"):
        load(path)
