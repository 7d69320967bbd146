"""Procedural pin images: deterministic, topic palettes, signature patterns."""

from __future__ import annotations

import itertools

import numpy as np

from core.sources.images import render_pin_image
from core.sources.topics import TOPIC_NAMES


def test_image_shape_and_type() -> None:
    image = render_pin_image("recipes", 12345)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert render_pin_image("recipes", 12345, size=32).shape == (32, 32, 3)


def test_same_inputs_same_image() -> None:
    assert np.array_equal(
        render_pin_image("travel", 987654321), render_pin_image("travel", 987654321)
    )


def test_each_topic_has_its_own_palette() -> None:
    images = [render_pin_image(topic, 7) for topic in TOPIC_NAMES]
    for first, second in itertools.combinations(images, 2):
        assert not np.array_equal(first, second)


def test_signature_changes_the_pattern() -> None:
    patterns = {render_pin_image("art", signature).tobytes() for signature in range(64)}
    assert len(patterns) > 32


def test_any_category_renders() -> None:
    image = render_pin_image("Film-Noir", 2**62 + 5)
    assert image.shape == (16, 16, 3)
    assert np.array_equal(image, render_pin_image("Film-Noir", 2**62 + 5))
