"""Procedural pin images: the palette follows the topic, the pattern follows the signature."""

from __future__ import annotations

import colorsys
import zlib

import numpy as np

from core.sources.topics import TOPIC_NAMES

PATTERNS = ("stripes", "checks", "dots", "gradient")
_GOLDEN = 0.618033988749895


def topic_hue(category: str) -> float:
    """Hue in [0, 1) for a category; known topics are spread by the golden ratio."""
    if category in TOPIC_NAMES:
        return (TOPIC_NAMES.index(category) * _GOLDEN) % 1.0
    # Categories from other sources (genres, user data) still get a stable hue.
    return (zlib.crc32(category.encode()) % 1000) / 1000.0


def _palette(category: str) -> np.ndarray:
    """Background and foreground colours, float RGB in [0, 255], shape (2, 3)."""
    hue = topic_hue(category)
    light = colorsys.hsv_to_rgb(hue, 0.25, 0.95)
    deep = colorsys.hsv_to_rgb(hue, 0.85, 0.55)
    return np.array([light, deep]) * 255.0


def _pattern(image_signature: int, size: int) -> np.ndarray:
    """Foreground weight in [0, 1] per pixel, shape (size, size)."""
    signature = int(image_signature) & 0xFFFFFFFF
    kind = PATTERNS[signature % len(PATTERNS)]
    frequency = 1 + (signature >> 2) % 4
    phase = ((signature >> 4) % 16) / 16.0
    vertical = (signature >> 8) & 1
    y, x = np.mgrid[0:size, 0:size] / size
    along = y if vertical else x
    if kind == "stripes":
        return (np.sin(2 * np.pi * (frequency * along + phase)) > 0).astype(float)
    if kind == "checks":
        cells = np.floor(frequency * 2 * (x + phase)) + np.floor(frequency * 2 * y)
        return (cells % 2).astype(float)
    if kind == "dots":
        cx = (frequency * x + phase) % 1.0 - 0.5
        cy = (frequency * y) % 1.0 - 0.5
        return (cx**2 + cy**2 < 0.09).astype(float)
    return (along + phase) % 1.0


def render_pin_image(category: str, image_signature: int, size: int = 16) -> np.ndarray:
    """A deterministic uint8 image of shape (size, size, 3) for a pin's category and signature."""
    background, foreground = _palette(category)
    weight = _pattern(image_signature, size)[..., None]
    return np.rint(background * (1.0 - weight) + foreground * weight).astype(np.uint8)
