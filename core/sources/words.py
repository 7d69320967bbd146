"""Vectorized text from topic vocabularies: word sampling and row-wise joining."""

from __future__ import annotations

import numpy as np

from core.sources.topics import GENERIC_WORDS, TOPICS


class Vocabulary:
    """Every topic's words in one flat array; a word is addressed by its global index."""

    def __init__(self) -> None:
        sizes = np.array([len(words) for words in TOPICS.values()], dtype=np.int64)
        self.words = np.array([w for words in TOPICS.values() for w in words], dtype=object)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.sizes = sizes
        self.generic = np.array(GENERIC_WORDS, dtype=object)

    def sample(
        self, topics: np.ndarray, n_words: int, rng: np.random.Generator, distinct: bool = False
    ) -> np.ndarray:
        """Global word indices, shape (len(topics), n_words), each drawn from its row's topic."""
        index = self._draw(topics, n_words, rng)
        for j in range(1, n_words if distinct else 0):
            # Redraw a column where it repeats an earlier word until no row repeats.
            clash = (index[:, :j] == index[:, j : j + 1]).any(axis=1)
            while clash.any():
                index[clash, j] = self._draw(topics[clash], 1, rng)[:, 0]
                clash = (index[:, :j] == index[:, j : j + 1]).any(axis=1)
        return index

    def _draw(self, topics: np.ndarray, n_words: int, rng: np.random.Generator) -> np.ndarray:
        local = rng.random((len(topics), n_words)) * self.sizes[topics][:, None]
        return self.offsets[topics][:, None] + local.astype(np.int64)


def join_words(words: np.ndarray, lengths: np.ndarray, sep: str = " ") -> np.ndarray:
    """Row i joins the first ``lengths[i]`` strings of the 2-D object array ``words``."""
    joined = words[:, 0].copy()
    for k in range(1, words.shape[1]):
        joined = np.where(k < lengths, joined + sep + words[:, k], joined)
    return joined


def capitalized(words: np.ndarray) -> np.ndarray:
    """The same strings with their first letter upper-cased (meant for vocabularies, not rows)."""
    return np.array([w[:1].upper() + w[1:] for w in words], dtype=object)
