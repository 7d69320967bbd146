"""Pin content features, the whole of what a pin is to PinSAGE besides its neighbours: hashed
text tokens, a category and optional numeric columns. No pin id is ever a feature.

Text is stored as words, each word as its tokens (``models.tokenizer``): a batch's distinct
words are bagged once and pins sum their words, so a step costs the catalogue's distinct words,
not every token of every pin. The result equals the mean over each pin's tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from models.tokenizer import TokenizerConfig, tokenize

_WORD = re.compile(r"\w+")  # the tokenizer's word split, applied to lower-cased text


class PinInputs(NamedTuple):
    """Model input for some pins: the tokens of their distinct words (EmbeddingBag ids and
    offsets), each pin's words as positions in that word list with offsets, each pin's token
    count, category codes and numeric rows."""

    token_ids: Tensor
    word_offsets: Tensor
    words: Tensor
    pin_offsets: Tensor
    token_counts: Tensor
    category: Tensor
    numeric: Tensor


@dataclass(frozen=True)
class PinFeatures:
    """Features of pins ``0..n_pins-1``. Pin i's words are
    ``pin_words[pin_indptr[i]:pin_indptr[i+1]]`` (indices into the word list), word w's tokens
    ``word_tokens[word_indptr[w]:word_indptr[w+1]]``; ``category`` is a code into the model's
    category list, -1 for none or unknown; ``numeric`` is ``[n_pins, k]`` float32."""

    word_tokens: np.ndarray
    word_indptr: np.ndarray
    pin_words: np.ndarray
    pin_indptr: np.ndarray
    category: np.ndarray
    numeric: np.ndarray

    @property
    def n_pins(self) -> int:
        return len(self.category)

    def select(self, pins: np.ndarray) -> PinInputs:
        """The inputs of ``pins`` in that order."""
        pins = np.asarray(pins, dtype=np.int64)
        words, pin_offsets = _rows(self.pin_indptr, self.pin_words, pins)
        used = np.zeros(len(self.word_indptr) - 1, dtype=bool)
        used[words] = True
        distinct = np.flatnonzero(used)
        positions = (np.cumsum(used) - 1)[words]
        tokens, word_offsets = _rows(self.word_indptr, self.word_tokens, distinct)
        owner = np.repeat(np.arange(len(pins)), np.diff(np.append(pin_offsets, len(words))))
        counts = np.bincount(owner, weights=np.diff(self.word_indptr)[words], minlength=len(pins))
        return PinInputs(
            torch.from_numpy(tokens),
            torch.from_numpy(word_offsets),
            torch.from_numpy(positions.astype(np.int64)),
            torch.from_numpy(pin_offsets),
            torch.from_numpy(counts.astype(np.float32)),
            torch.from_numpy(self.category[pins]),
            torch.from_numpy(self.numeric[pins]),
        )


def _rows(indptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR ``rows`` concatenated, and the offset where each starts."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    # Position k of the selection reads value (row start + k - selection offset).
    return values[np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())], offsets


def pin_features(
    texts: Sequence[str],
    categories: Sequence[object] | np.ndarray,
    *,
    tokenizer: TokenizerConfig,
    known_categories: Sequence[str],
    numeric: np.ndarray | None = None,
) -> PinFeatures:
    """Features for pins in the order of ``texts``; a category is matched by ``str(label)``
    against ``known_categories`` (the model's list), anything else gets code -1."""
    if len(categories) != len(texts) or (numeric is not None and len(numeric) != len(texts)):
        raise ValueError("texts, categories and numeric rows must describe the same pins")
    vocabulary: dict[str, int] = {}
    pin_words = [[vocabulary.setdefault(word, len(vocabulary)) for word in _WORD.findall(text.lower())] for text in texts]
    word_tokens, word_offsets = tokenize(list(vocabulary), tokenizer)
    code = {label: index for index, label in enumerate(known_categories)}
    return PinFeatures(
        word_tokens=word_tokens,
        word_indptr=np.append(word_offsets, len(word_tokens)).astype(np.int64),
        pin_words=np.array([word for words in pin_words for word in words], dtype=np.int64),
        pin_indptr=np.cumsum([0] + [len(words) for words in pin_words]).astype(np.int64),
        category=np.array([code.get(str(label), -1) for label in categories], dtype=np.int64),
        numeric=np.zeros((len(texts), 0), np.float32) if numeric is None else np.asarray(numeric, np.float32),
    )
