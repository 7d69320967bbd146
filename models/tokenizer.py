"""Vocabulary-free text tokens: each word and its character n-grams, hashed into buckets.

No vocabulary is learned, so any text (a new query, a misspelling, another language) gets
tokens, and a misspelled word still shares most n-grams with the word it misspells.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class TokenizerConfig:
    """Hash buckets and the range of character n-gram lengths."""

    buckets: int = 2**18
    min_n: int = 3
    max_n: int = 5

    def __post_init__(self) -> None:
        if self.buckets < 1 or not 1 <= self.min_n <= self.max_n:
            raise ValueError(f"need buckets >= 1 and 1 <= min_n <= max_n: {self}")


def word_tokens(word: str, config: TokenizerConfig) -> list[str]:
    """The word as ``<word>`` plus its ``min_n``..``max_n`` character n-grams (markers included)."""
    marked = f"<{word}>"
    # An n-gram as long as the marked word is the word itself, already listed once.
    grams = [
        marked[start : start + n]
        for n in range(config.min_n, min(config.max_n, len(marked) - 1) + 1)
        for start in range(len(marked) - n + 1)
    ]
    return [marked, *grams]


def tokenize(texts: list[str], config: TokenizerConfig) -> tuple[np.ndarray, np.ndarray]:
    """EmbeddingBag input for ``texts``: flat int64 bucket ids and the int64 offset where each
    text's ids start. Text is lower-cased and split into words; empty text gets no ids.

    Ids come from CRC-32 of the UTF-8 token, so they are the same in every process.
    """
    ids: list[int] = []
    offsets = np.empty(len(texts), dtype=np.int64)
    # Catalogue and query text repeat words heavily: hash each distinct word once per call.
    cache: dict[str, list[int]] = {}
    for row, text in enumerate(texts):
        offsets[row] = len(ids)
        for word in _WORD.findall(text.lower()):
            hashed = cache.get(word)
            if hashed is None:
                hashed = [
                    zlib.crc32(token.encode("utf-8")) % config.buckets
                    for token in word_tokens(word, config)
                ]
                cache[word] = hashed
            ids.extend(hashed)
    return np.array(ids, dtype=np.int64), offsets
