"""sampled_softmax_loss: hand-checked logits, accidental-hit masking, and logQ correction that
recovers a planted, popularity-skewed ground truth the uncorrected loss misses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.retrieval_loss import (
    NegativeSampler,
    log_q_from_counts,
    retrieval_logits,
    sampled_softmax_loss,
)

QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
POSITIVE = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
LOG_Q = torch.log(torch.tensor([0.5, 0.25]))


def test_two_by_two_logits_and_loss_by_hand() -> None:
    raw = retrieval_logits(
        QUERY, POSITIVE, positive_log_q=LOG_Q, temperature=0.5, correct_sampling_bias=False
    )
    torch.testing.assert_close(raw, torch.tensor([[2.0, 1.2], [0.0, 1.6]]))

    # Corrected by log(b * q): log(2 * 0.5) = 0 for column 0, log(2 * 0.25) = -log 2 for column 1.
    corrected = retrieval_logits(QUERY, POSITIVE, positive_log_q=LOG_Q, temperature=0.5)
    log2 = math.log(2.0)
    torch.testing.assert_close(corrected, torch.tensor([[2.0, 1.2 + log2], [0.0, 1.6 + log2]]))

    loss = sampled_softmax_loss(QUERY, POSITIVE, positive_log_q=LOG_Q, temperature=0.5)
    row0 = -2.0 + math.log(math.exp(2.0) + math.exp(1.2 + log2))
    row1 = -(1.6 + log2) + math.log(1.0 + math.exp(1.6 + log2))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_random_negatives_are_appended_columns_corrected_by_their_own_log_q() -> None:
    negative = torch.tensor([[0.0, -1.0]])
    logits = retrieval_logits(
        QUERY,
        POSITIVE,
        positive_log_q=LOG_Q,
        random_negatives=negative,
        random_log_q=torch.log(torch.tensor([0.1])),
        temperature=0.5,
    )
    assert logits.shape == (2, 3)
    # One draw with probability 0.1: the column gains -log(1 * 0.1).
    torch.testing.assert_close(logits[:, 2], torch.tensor([0.0, -2.0]) - math.log(0.1))
    with pytest.raises(ValueError, match="come together"):
        retrieval_logits(QUERY, POSITIVE, positive_log_q=LOG_Q, random_negatives=negative)


def test_accidental_hits_are_masked_and_the_loss_ignores_them() -> None:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(3, 4, generator=generator, requires_grad=True)
    positive = torch.randn(3, 4, generator=generator)
    negatives = torch.randn(2, 4, generator=generator)
    log_q, random_log_q = torch.full((3,), -1.0), torch.full((2,), -2.0)
    positive_ids, random_ids = torch.tensor([7, 7, 3]), torch.tensor([3, 7])
    arguments: dict[str, Any] = {
        "positive_log_q": log_q,
        "random_negatives": negatives,
        "random_log_q": random_log_q,
    }
    unmasked = retrieval_logits(query, positive, **arguments)
    logits = retrieval_logits(
        query, positive, positive_ids=positive_ids, random_ids=random_ids, **arguments
    )

    hits = torch.tensor(
        [
            [False, True, False, False, True],  # item 7 again in row 1 and as random negative 2
            [True, False, False, False, True],
            [False, False, False, True, False],  # item 3 drawn as random negative 1
        ]
    )
    assert torch.isneginf(logits[hits]).all()
    torch.testing.assert_close(logits[~hits], unmasked[~hits])

    loss = sampled_softmax_loss(
        query, positive, positive_ids=positive_ids, random_ids=random_ids, **arguments
    )
    # Dropping a row's masked columns moves its own positive to the count of kept columns before it.
    by_hand = torch.stack(
        [
            -F.log_softmax(unmasked[row][~hits[row]], dim=0)[(~hits[row, :row]).sum()]
            for row in range(3)
        ]
    ).mean()
    torch.testing.assert_close(loss, by_hand)
    loss.backward()
    assert query.grad is not None and torch.isfinite(query.grad).all()


def test_log_q_from_counts() -> None:
    log_q = log_q_from_counts(np.array([3, 1, 0]))
    np.testing.assert_allclose(log_q[:2], np.log([0.75, 0.25]), rtol=1e-6)
    assert log_q.dtype == np.float32 and np.isneginf(log_q[2])
    with pytest.raises(ValueError):
        log_q_from_counts(np.zeros(3))


def test_negative_sampler_reports_the_log_probability_it_drew_with() -> None:
    ids, log_q = NegativeSampler(8).draw(100, torch.Generator().manual_seed(0))
    assert ids.min() >= 0 and ids.max() < 8
    torch.testing.assert_close(log_q, torch.full((100,), -math.log(8)))

    weights = np.array([6.0, 3.0, 1.0, 0.0])
    probabilities = torch.tensor(weights / weights.sum(), dtype=torch.float32)
    draw = NegativeSampler(4, weights).draw
    ids, log_q = draw(20_000, torch.Generator().manual_seed(1))
    shares = torch.bincount(ids, minlength=4) / 20_000
    torch.testing.assert_close(shares, probabilities, atol=0.02, rtol=0)
    torch.testing.assert_close(log_q, probabilities.log()[ids])
    again, _ = draw(20_000, torch.Generator().manual_seed(1))
    assert torch.equal(ids, again)


# --- logQ correction against a planted truth ---------------------------------------------

N_ITEMS, N_QUERIES, TRUE_DIM = 500, 100, 8


def _planted_pairs(
    rng: np.random.Generator, n_pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True affinities ``[queries, items]`` = taste match + log of a Zipf popularity, and
    (query, positive) pairs drawn from softmax(affinity) per query."""
    items = rng.normal(size=(N_ITEMS, TRUE_DIM)) / math.sqrt(TRUE_DIM)
    tastes = rng.normal(size=(N_QUERIES, TRUE_DIM))
    popularity = rng.permutation(1.0 / np.arange(1, N_ITEMS + 1))
    affinity = 2.0 * tastes @ items.T + np.log(popularity)
    probabilities = np.exp(affinity - affinity.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    queries = rng.integers(0, N_QUERIES, n_pairs)
    cumulative = probabilities.cumsum(axis=1)[queries]
    positives = (cumulative < rng.random(n_pairs)[:, None] * cumulative[:, -1:]).sum(axis=1)
    return affinity, queries, positives


def _train_free_embeddings(
    queries: np.ndarray, positives: np.ndarray, *, correct: bool, seed: int = 0
) -> np.ndarray:
    """Scores ``[queries, items]`` of free query and item embeddings trained with the loss."""
    generator = torch.Generator().manual_seed(seed)
    query_table = torch.nn.Parameter(0.1 * torch.randn(N_QUERIES, 16, generator=generator))
    item_table = torch.nn.Parameter(0.1 * torch.randn(N_ITEMS, 16, generator=generator))
    optimizer = torch.optim.Adam([query_table, item_table], lr=0.05)
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(positives, minlength=N_ITEMS)))
    sampler = NegativeSampler(N_ITEMS)
    query_ids, positive_ids = torch.from_numpy(queries), torch.from_numpy(positives)
    for _ in range(5):
        for batch in torch.randperm(len(queries), generator=generator).split(256):
            random_ids, random_log_q = sampler.draw(64, generator)
            loss = sampled_softmax_loss(
                query_table[query_ids[batch]],
                item_table[positive_ids[batch]],
                positive_log_q=log_q[positive_ids[batch]],
                random_negatives=item_table[random_ids],
                random_log_q=random_log_q,
                positive_ids=positive_ids[batch],
                random_ids=random_ids,
                temperature=1.0,  # free, unnormalized embeddings set their own scale
                correct_sampling_bias=correct,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return (query_table @ item_table.T).detach().numpy()


def _recall_at(k: int, scores: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top-k items found in its predicted top-k."""
    predicted = np.argsort(-scores, axis=1)[:, :k]
    true = np.argsort(-truth, axis=1)[:, :k]
    return float(np.mean([len(np.intersect1d(p, t)) / k for p, t in zip(predicted, true)]))


def test_log_q_correction_recovers_the_true_ranking_that_popularity_skew_hides() -> None:
    affinity, queries, positives = _planted_pairs(np.random.default_rng(0), 30_000)
    top_share = np.bincount(positives).max() / len(positives)
    assert top_share > 0.02  # the most popular item sits in most batches, several times

    corrected, uncorrected = (
        _recall_at(10, _train_free_embeddings(queries, positives, correct=correct), affinity)
        for correct in (True, False)
    )
    popularity = np.tile(np.bincount(positives, minlength=N_ITEMS), (N_QUERIES, 1))
    baseline = _recall_at(10, popularity.astype(float), affinity)
    print(
        f"recall@10 vs true top-10: corrected {corrected:.3f}, uncorrected {uncorrected:.3f}, "
        f"popularity {baseline:.3f}"
    )
    assert corrected - uncorrected > 0.15, (corrected, uncorrected)
    assert corrected > baseline + 0.2, (corrected, baseline)
