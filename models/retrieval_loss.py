"""The project's one retrieval loss: sampled softmax over in-batch plus random negatives, with
logQ correction for sampling bias (DESIGN.md section 1, retrieval training).

Every two-tower model trains with ``sampled_softmax_loss``. Row i of ``query`` is scored
against every candidate: the batch's positives (so each other row's positive is a negative
for row i) and any random negatives. Popular items show up as in-batch negatives far more
often than the catalogue's other items, which, uncorrected, teaches the model to demote
them; subtracting each candidate's log sampling probability removes that bias (Yi et al.,
"Sampling-bias-corrected neural modeling for large corpus item recommendations", 2019).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def retrieval_logits(
    query: Tensor,
    positive: Tensor,
    *,
    positive_log_q: Tensor,
    random_negatives: Tensor | None = None,
    random_log_q: Tensor | None = None,
    positive_ids: Tensor | None = None,
    random_ids: Tensor | None = None,
    temperature: float = 0.05,
    correct_sampling_bias: bool = True,
) -> Tensor:
    """Logits ``[b, b + m]``: row i scores ``query[i]`` against the b positives, then the m
    random negatives; row i's own positive sits on the diagonal, column i.

    Each logit is ``query . candidate / temperature``. With ``correct_sampling_bias``, each
    column then loses the log of the expected number of times its candidate was drawn:
    ``log(b) + positive_log_q`` for in-batch columns (``positive_log_q`` is the item's log
    frequency in the training stream) and ``log(m) + random_log_q`` for random columns
    (``random_log_q`` is the log probability the sampler drew it with). The draw counts
    weigh the two candidate sources by how much each sampled.

    Given ``positive_ids``, a candidate that is row i's own positive item but not row i's
    diagonal (an accidental hit: the same item twice in a batch, or drawn as a random
    negative when ``random_ids`` is given too) is masked to ``-inf``.
    """
    batch = query.shape[0]
    if positive.shape != query.shape or positive_log_q.shape != (batch,):
        raise ValueError(
            f"need query and positive [b, d] and positive_log_q [b]; got {tuple(query.shape)}, "
            f"{tuple(positive.shape)} and {tuple(positive_log_q.shape)}"
        )
    if (random_negatives is None) != (random_log_q is None):
        raise ValueError("random_negatives and random_log_q come together")
    if random_ids is not None and (positive_ids is None or random_negatives is None):
        raise ValueError("random_ids needs positive_ids and random_negatives")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    candidates = [positive]
    log_q = [positive_log_q + math.log(batch)]
    if random_negatives is not None and random_log_q is not None:
        if random_negatives.shape[1:] != query.shape[1:] or random_log_q.shape != (
            random_negatives.shape[0],
        ):
            raise ValueError(
                f"need random_negatives [m, {query.shape[1]}] and random_log_q [m]; got "
                f"{tuple(random_negatives.shape)} and {tuple(random_log_q.shape)}"
            )
        candidates.append(random_negatives)
        log_q.append(random_log_q + math.log(max(random_negatives.shape[0], 1)))

    logits = query @ torch.cat(candidates).T / temperature
    if correct_sampling_bias:
        logits = logits - torch.cat(log_q).to(logits.dtype)[None, :]
    if positive_ids is not None:
        logits.masked_fill_(_accidental_hits(positive_ids, random_ids), float("-inf"))  # a new tensor: no copy
    return logits


def sampled_softmax_loss(
    query: Tensor,
    positive: Tensor,
    *,
    positive_log_q: Tensor,
    random_negatives: Tensor | None = None,
    random_log_q: Tensor | None = None,
    positive_ids: Tensor | None = None,
    random_ids: Tensor | None = None,
    temperature: float = 0.05,
    correct_sampling_bias: bool = True,
) -> Tensor:
    """Mean cross-entropy of each query's own positive among ``retrieval_logits``' candidates
    (same arguments); a scalar."""
    logits = retrieval_logits(
        query,
        positive,
        positive_log_q=positive_log_q,
        random_negatives=random_negatives,
        random_log_q=random_log_q,
        positive_ids=positive_ids,
        random_ids=random_ids,
        temperature=temperature,
        correct_sampling_bias=correct_sampling_bias,
    )
    return F.cross_entropy(logits, torch.arange(query.shape[0], device=logits.device))


def _accidental_hits(positive_ids: Tensor, random_ids: Tensor | None) -> Tensor:
    """Boolean ``[b, b + m]``: candidates that are the row's own positive item, off the diagonal."""
    candidate_ids = positive_ids if random_ids is None else torch.cat([positive_ids, random_ids])
    hits = positive_ids[:, None] == candidate_ids[None, :]
    hits[:, : positive_ids.shape[0]].fill_diagonal_(False)
    return hits


def log_q_from_counts(item_counts: np.ndarray) -> np.ndarray:
    """``log(count / total)`` per item as float32; items never seen get ``-inf``."""
    counts = np.asarray(item_counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("item_counts must be a 1-D array of non-negative counts, not all zero")
    with np.errstate(divide="ignore"):
        return np.log(counts / counts.sum()).astype(np.float32)


class NegativeSampler:
    """Draws random negative items, uniformly or by given weights, with their log probability."""

    def __init__(self, n_items: int, weights: np.ndarray | None = None) -> None:
        if n_items < 1:
            raise ValueError(f"need at least one item, got {n_items}")
        if weights is None:
            self._probabilities: Tensor | None = None
            self._log_q = torch.full((n_items,), -math.log(n_items))
            return
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n_items,) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"weights must be {n_items} non-negative numbers, not all zero")
        probabilities = torch.from_numpy(weights / weights.sum())
        self._probabilities = probabilities
        self._log_q = probabilities.log().float()

    def draw(self, count: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``count`` item indices drawn with replacement, and the log probability of each."""
        n_items = self._log_q.shape[0]
        if self._probabilities is None:
            ids = torch.randint(n_items, (count,), generator=generator)
        else:
            ids = torch.multinomial(
                self._probabilities, count, replacement=True, generator=generator
            )
        return ids, self._log_q[ids]
