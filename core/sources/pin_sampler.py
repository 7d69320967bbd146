"""Vectorized pin draws: by popularity within a topic, overall, or among pins with a title word."""

from __future__ import annotations

import numpy as np


class PinSampler:
    """Draws pins in proportion to a weight, optionally restricted to one topic per draw."""

    def __init__(self, topic: np.ndarray, weight: np.ndarray, n_topics: int) -> None:
        # Pins sorted by topic make each topic one contiguous stretch of the cumulative weight.
        self.order = np.argsort(topic, kind="stable")
        self.cumulative = np.cumsum(weight[self.order])
        bounds = np.searchsorted(topic[self.order], np.arange(n_topics + 1))
        edges = np.concatenate([[0.0], self.cumulative])[bounds]
        self.low, self.high = edges[:-1], edges[1:]

    def by_topic(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One pin per entry of ``topics``, drawn from that topic by weight."""
        target = self.low[topics] + rng.random(len(topics)) * (self.high[topics] - self.low[topics])
        return self._at(target)

    def overall(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n pins drawn by weight from the whole catalogue."""
        return self._at(rng.random(n) * self.cumulative[-1])

    def _at(self, target: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.cumulative, target, side="right")
        return self.order[np.minimum(index, len(self.order) - 1)]


class TitleWordIndex:
    """Which pins carry a word in their title (an inverted index over global word indices)."""

    def __init__(self, title_words: np.ndarray, n_words: int) -> None:
        pins = np.repeat(np.arange(len(title_words)), title_words.shape[1])
        words = title_words.ravel()
        keep = words >= 0
        order = np.argsort(words[keep], kind="stable")
        self.pins = pins[keep][order]
        self.starts = np.searchsorted(words[keep][order], np.arange(n_words + 1))

    def uniform(self, words: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn pin whose title holds each word; -1 where no title does."""
        low, high = self.starts[words], self.starts[words + 1]
        index = low + (rng.random(len(words)) * (high - low)).astype(np.int64)
        return np.where(high > low, self.pins[np.minimum(index, len(self.pins) - 1)], -1)
