"""Pin content features, the whole of what a pin is to PinSAGE besides its neighbours: hashed
text tokens, a category and optional numeric columns. No pin id is ever a feature.

Text is stored as words, each word as its tokens (``models.tokenizer``): a batch's distinct
words are bagged once and each pin takes a weighted sum of its distinct words (a sparse matrix
product), so a step costs the batch's distinct words, not every token of every pin. The result
equals the mean over each pin's tokens.
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
    offsets); ``word_weights``, a coalesced sparse ``[pins, words]`` matrix whose row holds each
    of the pin's words' share of its tokens (so that the product with the words' token sums is
    the mean over the pin's tokens); category codes and numeric rows."""

    token_ids: Tensor
    word_offsets: Tensor
    word_weights: Tensor
    category: Tensor
    numeric: Tensor


@dataclass(frozen=True)
class PinFeatures:
    """Features of pins ``0..n_pins-1``. Pin i's distinct words are
    ``pin_words[pin_indptr[i]:pin_indptr[i+1]]`` (ascending indices into the word list), each
    weighed by ``pin_word_weights`` (its occurrences over the pin's token count); word w's tokens
    are ``word_tokens[word_indptr[w]:word_indptr[w+1]]``; ``category`` is a code into the model's
    category list, -1 for none or unknown; ``numeric`` is ``[n_pins, k]`` float32."""

    word_tokens: np.ndarray
    word_indptr: np.ndarray
    pin_words: np.ndarray
    pin_word_weights: np.ndarray
    pin_indptr: np.ndarray
    category: np.ndarray
    numeric: np.ndarray

    @property
    def n_pins(self) -> int:
        return len(self.category)

    def select(self, pins: np.ndarray) -> PinInputs:
        """The inputs of ``pins`` in that order."""
        pins = np.asarray(pins, dtype=np.int64)
        at, pin_offsets = _rows(self.pin_indptr, pins)
        words, weights = self.pin_words[at], self.pin_word_weights[at]
        used = np.zeros(len(self.word_indptr) - 1, dtype=bool)
        used[words] = True
        distinct = np.flatnonzero(used)
        positions = (np.cumsum(used) - 1)[words]  # ascending within each pin, as its words are
        at, word_offsets = _rows(self.word_indptr, distinct)
        tokens = self.word_tokens[at]
        owner = np.repeat(np.arange(len(pins)), np.diff(np.append(pin_offsets, len(words))))
        word_weights = torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([owner, positions])),
            torch.from_numpy(weights),
            (len(pins), len(distinct)),
            is_coalesced=True,  # rows ascending, then each row's columns
        )
        return PinInputs(
            torch.from_numpy(tokens),
            torch.from_numpy(word_offsets),
            word_weights,
            torch.from_numpy(self.category[pins]),
            torch.from_numpy(self.numeric[pins]),
        )


def _rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the CSR ``rows``' values lie, concatenated, and the offset where each row starts."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])[:-1].astype(np.int64)  # none for no rows
    # Position k of the selection reads value (row start + k - selection offset).
    return np.repeat(starts - offsets, lengths) + np.arange(lengths.sum()), offsets


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
    word_indptr = np.append(word_offsets, len(word_tokens)).astype(np.int64)
    words, weights, indptr = _distinct_words(pin_words, np.diff(word_indptr))
    code = {label: index for index, label in enumerate(known_categories)}
    return PinFeatures(
        word_tokens=word_tokens,
        word_indptr=word_indptr,
        pin_words=words,
        pin_word_weights=weights,
        pin_indptr=indptr,
        category=np.array([code.get(str(label), -1) for label in categories], dtype=np.int64),
        numeric=np.zeros((len(texts), 0), np.float32) if numeric is None else np.asarray(numeric, np.float32),
    )


def _distinct_words(
    pin_words: Sequence[Sequence[int]], word_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(words, weights, indptr)``: each pin's distinct words in ascending order, in CSR form,
    each weighed by its occurrences over the pin's token count (float32), so that the weighted
    sum of the words' token sums is the mean over the pin's tokens."""
    lengths = np.array([len(words) for words in pin_words], dtype=np.int64)
    flat = np.fromiter((word for words in pin_words for word in words), dtype=np.int64, count=int(lengths.sum()))
    vocabulary = max(len(word_lengths), 1)
    keys, occurrences = np.unique(np.repeat(np.arange(len(pin_words)), lengths) * vocabulary + flat, return_counts=True)
    owner, words = keys // vocabulary, keys % vocabulary
    tokens = np.bincount(owner, weights=occurrences * word_lengths[words], minlength=len(pin_words))
    weights = (occurrences / np.maximum(tokens[owner], 1)).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(pin_words)))]).astype(np.int64)
    return words, weights, indptr
