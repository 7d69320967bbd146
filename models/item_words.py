"""Item side features as words: each item's distinct lower-cased words of its category and text,
hashed into a fixed number of buckets, in ``nn.EmbeddingBag`` form (flat ids and offsets).

No vocabulary is stored: the CRC-32 of a word is the same in every process, so a checkpoint needs
only the bucket count, and a catalogue of any size costs one id per distinct word of an item.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


def item_words(categories: Sequence[str], texts: Sequence[str], buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat int64 bucket ids of every item's distinct words (category first, then text) and the
    int64 offset where each item's ids start; an item without words gets none."""
    if buckets < 1:
        raise ValueError(f"need buckets >= 1, got {buckets}")
    if len(categories) != len(texts):
        raise ValueError(f"{len(categories)} categories for {len(texts)} texts")
    ids: list[int] = []
    offsets = np.empty(len(texts), dtype=np.int64)
    for row, (category, text) in enumerate(zip(categories, texts)):
        offsets[row] = len(ids)
        words = dict.fromkeys(_WORD.findall(f"{category} {text}".lower()))  # distinct, in order
        ids.extend(zlib.crc32(word.encode("utf-8")) % buckets for word in words)
    return np.array(ids, dtype=np.int64), offsets
