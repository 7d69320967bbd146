"""FeatureEncoder: standardization, missing values, unknown categories and block assembly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ranker_features import FeatureEncoder, is_count_column


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, np.nan, 50.0],
            "country": ["fr", "us", "us", None],
            "clicks_7d": [0, 3, 8, 63],
            "category": ["food", "diy", "food", "art"],
        }
    )


def _encoder() -> FeatureEncoder:
    return FeatureEncoder.fit(
        _frame(),
        user_numeric=["age"],
        user_categorical=["country"],
        pin_numeric=["clicks_7d"],
        pin_categorical=["category"],
        vector_dim=3,
    )


def test_widths() -> None:
    encoder = _encoder()
    # user: age + {fr, us, unknown}; pin: clicks_7d + {art, diy, food, unknown}; pair: 1 + 3 + 1 + 1
    assert (encoder.user_dim, encoder.pin_dim, encoder.pair_dim) == (4, 5, 6)
    assert encoder.input_dim == 15


def test_missing_numeric_takes_the_training_mean() -> None:
    users = _encoder().encode_users(_frame())
    assert users.dtype == np.float32
    # Standardized, the training mean is 0; the observed ages keep mean 0 and unit variance.
    assert users[2, 0] == 0.0
    observed = users[[0, 1, 3], 0]
    assert observed.mean() == pytest.approx(0.0, abs=1e-6)
    assert observed.std() == pytest.approx(1.0, abs=1e-6)


def test_unknown_and_missing_categories_go_to_the_unknown_slot() -> None:
    encoder = _encoder()
    visitors = pd.DataFrame({"age": [25.0, 25.0, 25.0], "country": ["us", "jp", None]})
    users = encoder.encode_users(visitors)
    np.testing.assert_array_equal(users[:, 1:], [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
    pins = encoder.encode_pins(pd.DataFrame({"clicks_7d": [1], "category": ["cars"]}))
    np.testing.assert_array_equal(pins[0, 1:], [0, 0, 0, 1])


def test_count_columns_are_log_scaled() -> None:
    assert is_count_column("clicks_7d") and is_count_column("long_clicks_30d")
    assert not is_count_column("age") and not is_count_column("clicks_total")
    pins = _encoder().encode_pins(_frame())
    logged = np.log1p([0.0, 3.0, 8.0, 63.0])
    expected = (logged - logged.mean()) / logged.std()
    np.testing.assert_allclose(pins[:, 0], expected, rtol=1e-5)


def test_explicit_log_columns_override_the_naming_rule() -> None:
    encoder = FeatureEncoder.fit(_frame(), pin_numeric=["clicks_7d"], vector_dim=2, log_columns=[])
    raw = np.array([0.0, 3.0, 8.0, 63.0])
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(encoder.encode_pins(_frame())[:, 0], expected, rtol=1e-5)


def test_pair_block_broadcasts_one_user_vector() -> None:
    encoder = _encoder()
    user = np.array([[1.0, 0.0, 0.0]])
    pins = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    pair = encoder.pair_block(user, pins, position=np.array([0, 1, 9]), interest=np.array([0.5, 0.0, 0.25]))
    np.testing.assert_allclose(pair[:, 0], [1.0, 0.0, 0.0])  # cosine; a zero vector gives 0
    np.testing.assert_allclose(pair[:, 1:4], user * pins)
    np.testing.assert_allclose(pair[:, 4], [0.5, 0.0, 0.25])
    np.testing.assert_allclose(pair[:, 5], np.log1p([0, 1, 9]), rtol=1e-6)
    with pytest.raises(ValueError, match="dimension 2"):
        encoder.pair_block(user[:, :2], pins, position=0)


def test_assemble_broadcasts_the_user_block() -> None:
    encoder = _encoder()
    frame = _frame()
    user = encoder.encode_users(frame.iloc[[1]])
    pins = encoder.encode_pins(frame)
    pair = encoder.pair_block(np.ones((1, 3)), np.ones((4, 3)), position=0)
    rows = encoder.assemble(user, pins, pair)
    assert rows.shape == (4, encoder.input_dim) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[:, : encoder.user_dim], np.repeat(user, 4, axis=0))
    np.testing.assert_array_equal(rows[:, encoder.user_dim : -encoder.pair_dim], pins)
    # The serving path (one user row) matches the training path (user columns on every row).
    same_user = frame.assign(age=30.0, country="us")
    training = encoder.encode(same_user, np.ones((4, 3)), np.ones((4, 3)), position=0)
    np.testing.assert_array_equal(rows, training)
    with pytest.raises(ValueError, match="row counts differ"):
        encoder.assemble(np.repeat(user, 2, axis=0), pins, pair)
    with pytest.raises(ValueError, match="pin block"):
        encoder.assemble(user, user, pair)


def test_state_round_trip() -> None:
    encoder = _encoder()
    restored = FeatureEncoder.from_state(encoder.to_state())
    frame = _frame()
    np.testing.assert_array_equal(restored.encode_users(frame), encoder.encode_users(frame))
    np.testing.assert_array_equal(restored.encode_pins(frame), encoder.encode_pins(frame))
    assert restored.input_dim == encoder.input_dim


def test_learned_similarities_are_pair_columns_that_round_trip() -> None:
    frame = _frame()
    encoder = FeatureEncoder.fit(
        frame, user_numeric=["age"], pin_categorical=["category"], vector_dim=3, similarities=("pinsage", "visual")
    )
    assert encoder.pair_dim == _encoder().pair_dim + 2
    similarities = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]], dtype=np.float32)
    pair = encoder.pair_block(np.ones(3), np.ones((4, 3)), 0.0, 0.5, similarities)
    np.testing.assert_array_equal(pair[:, 5:7], similarities)  # after cosine, product and interest
    restored = FeatureEncoder.from_state(encoder.to_state())
    assert restored.similarities == ("pinsage", "visual") and restored.input_dim == encoder.input_dim
    with pytest.raises(ValueError, match="similarities"):
        encoder.pair_block(np.ones(3), np.ones((4, 3)), 0.0)  # the columns it was fit with are required
