"""The visual CNN on rendered pin images: held-out figures beat chance, checkpoints, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from core.sources.images import render_pin_image
from core.sources.topics import TOPIC_NAMES
from models.checkpoint import CheckpointError, save_checkpoint
from models.visual import (
    VisualArtifact,
    VisualConfig,
    embed_images,
    evaluate_visual,
    fit_pin_visuals,
    load_visual_vectors,
    split_by_signature,
    train_visual,
)

SIZE = 16


def rendered_pins(n_signatures: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, categories and signatures of pins over six topics; a third of the signatures
    are re-uploaded once more as near-duplicates (same topic and signature)."""
    rng = np.random.default_rng(seed)
    signatures = rng.integers(1, 2**62, size=n_signatures)
    topics = np.array(TOPIC_NAMES[:6], dtype=object)[rng.integers(0, 6, size=n_signatures)]
    rows = np.concatenate(
        [
            np.arange(n_signatures),
            rng.choice(n_signatures, n_signatures // 3, replace=False),
        ]
    )
    images = np.stack([render_pin_image(topics[row], int(signatures[row]), SIZE) for row in rows])
    return images, topics[rows], signatures[rows]


@pytest.fixture(scope="module")
def pins() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rendered_pins(420, seed=0)


@pytest.fixture(scope="module")
def trained(pins):
    images, categories, signatures = pins
    train, validation, test = split_by_signature(signatures, train=10**6, validation=60, test=160, seed=0)
    model, history = train_visual(images, categories, VisualConfig(), train_rows=train, validation_rows=validation)
    return model, history, test


def test_held_out_topic_colour_and_duplicates_beat_chance(pins, trained):
    images, categories, signatures = pins
    model, history, test = trained
    metrics = evaluate_visual(model, images[test], categories[test], signatures[test], seed=0)
    assert history.train_loss[-1] < history.train_loss[0]
    majority = metrics["topic_majority"]
    assert metrics["topic_accuracy"] > majority + 0.5 * (1 - majority), metrics
    assert metrics["colour_r2"] > 0.5, metrics  # predicting the mean colour scores 0
    assert metrics["duplicate_queries"] >= 20, metrics
    assert metrics["duplicate_ceiling"] > 5 * metrics["duplicate_chance"], metrics  # the test can tell
    assert metrics["duplicate_hit"] > 10 * metrics["duplicate_chance"], metrics


def test_same_seed_same_vectors_and_the_seed_matters(pins):
    images, categories, _ = pins
    config = VisualConfig(epochs=2)
    rows = np.arange(120)
    first, second = (train_visual(images, categories, config, train_rows=rows)[0] for _ in range(2))
    other = train_visual(images, categories, dataclasses.replace(config, seed=1), train_rows=rows)[0]
    vectors = embed_images(first, images[:50]).vectors
    np.testing.assert_array_equal(vectors, embed_images(second, images[:50]).vectors)
    assert not np.allclose(vectors, embed_images(other, images[:50]).vectors)


def test_predictions_are_unit_vectors_with_named_topics(pins, trained):
    images, categories, _ = pins
    model, _, _ = trained
    predictions = embed_images(model, images[:70], batch_size=32)
    assert predictions.vectors.shape == (70, model.config.dim)
    np.testing.assert_allclose(np.linalg.norm(predictions.vectors, axis=1), 1.0, atol=1e-5)
    assert set(predictions.topics) <= set(categories)
    assert predictions.style.shape == (70, 5)


def test_split_keeps_signature_groups_whole(pins):
    _, _, signatures = pins
    train, validation, test = split_by_signature(signatures, train=200, validation=50, test=100, seed=3)
    parts = [set(signatures[rows]) for rows in (train, validation, test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert 100 <= len(test) < 102 and 50 <= len(validation) < 52 and 200 <= len(train) < 202
    with pytest.raises(ValueError, match="none for training"):
        split_by_signature(signatures[:10], train=5, validation=5, test=10, seed=0)


def test_artifact_round_trip_gives_identical_vectors(tmp_path, pins, trained):
    images, _, _ = pins
    model, _, _ = trained
    pin_ids = np.arange(100, 100 + len(images))
    vectors = embed_images(model, images).vectors
    VisualArtifact(model, pin_ids, vectors).save(tmp_path / "visual.pt")
    loaded = VisualArtifact.load(tmp_path / "visual.pt")
    np.testing.assert_array_equal(loaded.vectors, vectors)
    np.testing.assert_array_equal(embed_images(loaded.model, images).vectors, vectors)
    assert loaded.model.topics == model.topics and loaded.model.config == model.config

    aligned, present = loaded.aligned(np.array([101, 7, 100]))
    assert present.tolist() == [True, False, True]
    np.testing.assert_array_equal(aligned[[0, 2]], vectors[[1, 0]])
    assert not aligned[1].any()

    served = load_visual_vectors(tmp_path / "visual.pt")  # what the service reads, without the CNN
    np.testing.assert_array_equal(served.pin_ids, pin_ids)
    np.testing.assert_array_equal(served.vectors, vectors)


def test_corrupt_or_foreign_checkpoints_fail_clearly(tmp_path, pins, trained):
    images, _, _ = pins
    model, _, _ = trained
    path = tmp_path / "visual.pt"
    VisualArtifact(model, np.arange(len(images)), embed_images(model, images).vectors).save(path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        VisualArtifact.load(truncated)
    foreign = tmp_path / "foreign.pt"
    save_checkpoint(foreign, kind="text_tower", config=model.config, state={})
    with pytest.raises(CheckpointError, match="'text_tower' model"):
        VisualArtifact.load(foreign)
    wrong_shape = tmp_path / "wrong_shape.pt"
    save_checkpoint(
        wrong_shape,
        kind="visual_cnn",
        config=dataclasses.replace(model.config, dim=8),
        state={
            "model": dict(model.state_dict()),
            "topics": model.topics,
            "pin_ids": np.arange(3),
            "vectors": np.zeros((3, 8)),
        },
    )
    with pytest.raises(CheckpointError, match="does not fit its config"):
        VisualArtifact.load(wrong_shape)
    narrow = tmp_path / "narrow.pt"
    state = {"pin_ids": np.arange(3), "vectors": np.zeros((3, 5))}
    save_checkpoint(narrow, kind="visual_cnn", config=dataclasses.replace(model.config, dim=8), state=state)
    with pytest.raises(CheckpointError, match=r"\(3, 5\) vectors .* of width 8"):
        load_visual_vectors(narrow)


def test_bad_input_is_refused_with_a_clear_message(pins, trained):
    images, categories, _ = pins
    model, _, _ = trained
    rows = np.arange(10)
    with pytest.raises(ValueError, match="uint8"):
        embed_images(model, images.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \[n, 16, 16, 3\]"):
        embed_images(model, images[:, :8, :8])
    with pytest.raises(ValueError, match="empty"):
        embed_images(model, images[:0])
    with pytest.raises(TypeError, match="numpy array"):
        embed_images(model, images.tolist())
    with pytest.raises(ValueError, match="one category per image"):
        train_visual(images, categories[:-1], VisualConfig(epochs=1), train_rows=rows)
    with pytest.raises(ValueError, match="train_rows is empty"):
        train_visual(images, categories, VisualConfig(epochs=1), train_rows=rows[:0])
    with pytest.raises(ValueError, match="max_shift"):
        VisualConfig(max_shift=SIZE)


def test_fit_pin_visuals_embeds_every_pin_of_a_catalogue(pins):
    _, categories, signatures = pins
    catalogue = pd.DataFrame(
        {
            "pin_id": np.arange(len(categories))[::-1],
            "category": categories,
            "image_signature": signatures,
        }
    )
    threads = torch.get_num_threads()
    fit = fit_pin_visuals(catalogue, VisualConfig(epochs=2))
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(fit.artifact.pin_ids, np.arange(len(categories)))
    np.testing.assert_allclose(np.linalg.norm(fit.artifact.vectors, axis=1), 1.0, atol=1e-5)
    assert fit.split_sizes["test_pins"] >= len(categories) // 5 and fit.metrics["duplicate_queries"] > 0
    assert {
        "topic_accuracy",
        "colour_r2",
        "duplicate_hit",
        "topic_agreement@10",
    } <= set(fit.metrics)
