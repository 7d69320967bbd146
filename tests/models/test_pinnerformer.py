"""PinnerFormer: a causal encoder, each objective learning planted sequential structure better
than popularity, and an exact checkpoint round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import CheckpointError, save_checkpoint
from models.leave_last_out import EvaluationSplit
from models.pinnerformer import (
    OBJECTIVES,
    SIZES,
    PinnerFormer,
    PinnerFormerConfig,
    PinnerFormerRecommender,
    gap_buckets,
)

CLUSTERS, CLUSTER_SIZE = 12, 20
# Short windows give next_action, which learns from one target per window, enough steps.
FAST = PinnerFormerConfig(
    dim=32, layers=1, heads=2, max_len=8, window=3, epochs=12, patience=12, random_negatives=64
)


def clustered_sequences(n_users: int = 240, length: int = 24, seed: int = 0) -> EvaluationSplit:
    """Items in clusters; a user takes unseen items of one cluster, moving to the fixed next
    cluster with probability 0.3 (or when it runs out). Popular items: low ids in a cluster."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, CLUSTER_SIZE + 1)
    sequences, times = [], []
    for _ in range(n_users):
        cluster, seen, items = int(rng.integers(CLUSTERS)), set[int](), list[int]()
        while len(items) < length:
            members = [cluster * CLUSTER_SIZE + i for i in range(CLUSTER_SIZE)]
            fresh = [m for m in members if m not in seen]
            if not fresh or (items and rng.random() < 0.3):
                cluster = (cluster + 1) % CLUSTERS
                continue
            p = weights[[m % CLUSTER_SIZE for m in fresh]]
            item = int(rng.choice(fresh, p=p / p.sum()))
            seen.add(item)
            items.append(item)
        sequences.append(np.array(items))
        times.append(1.6e9 + np.cumsum(rng.exponential(3600.0, length)))
    n_items = CLUSTERS * CLUSTER_SIZE
    return EvaluationSplit(
        n_users=n_users,
        n_items=n_items,
        train=[s[:-2] for s in sequences],
        train_times=[t[:-2] for t in times],
        validation=np.array([s[-2] for s in sequences]),
        test=np.array([s[-1] for s in sequences]),
        item_text=[""] * n_items,
        item_category=np.arange(n_items) // CLUSTER_SIZE,
        board_items=[],
        item_ids=np.arange(n_items),
        user_ids=np.arange(n_users),
        validation_times=np.array([t[-2] for t in times]),
    )


def held_out_recall_at_10(scores: np.ndarray, split: EvaluationSplit) -> float:
    """Held-out test item in the top 10, the test-stage history excluded."""
    hits = []
    for user, row in enumerate(scores):
        row = row.astype(np.float64).copy()
        row[split.history(user, "test")] = -np.inf
        hits.append((row > row[split.test[user]]).sum() < 10)
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def split() -> EvaluationSplit:
    return clustered_sequences()


@pytest.fixture(scope="module")
def fitted(split: EvaluationSplit) -> PinnerFormerRecommender:
    recommender = PinnerFormerRecommender(FAST)
    recommender.fit(split)
    return recommender


def test_config_rejects_unknown_objective_and_bad_heads() -> None:
    with pytest.raises(ValueError, match="objective"):
        PinnerFormerConfig(objective="next_click")
    with pytest.raises(ValueError, match="divisible"):
        PinnerFormerConfig(dim=30, heads=4)
    for size in SIZES.values():
        PinnerFormerConfig(**size)


def test_gap_buckets_grow_with_log_gap() -> None:
    buckets = gap_buckets(np.array([0.0, 0.0, 1.0, 1000.0, 1e12]))
    assert buckets.tolist() == [0, 1, 2, 10, 31]


def test_a_later_action_does_not_change_earlier_outputs() -> None:
    torch.manual_seed(0)
    config = PinnerFormerConfig(dim=16, layers=2, heads=2, max_len=8)
    model = PinnerFormer(config, n_items=30).eval()
    items, gaps = torch.randint(30, (2, 8)), torch.randint(1, 10, (2, 8))
    changed_items, changed_gaps = items.clone(), gaps.clone()
    changed_items[:, 5] = (items[:, 5] + 1) % 30
    changed_gaps[:, 6] = gaps[:, 6] + 1
    with torch.no_grad():
        before, after = model(items, gaps), model(changed_items, changed_gaps)
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])
    torch.testing.assert_close(before.norm(dim=-1), torch.ones(2, 8))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_beats_popularity_on_held_out_next_items(
    objective: str, split: EvaluationSplit
) -> None:
    recommender = PinnerFormerRecommender(dataclasses.replace(FAST, objective=objective))
    recommender.fit(split)
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(float)
    baseline = held_out_recall_at_10(np.tile(counts, (split.n_users, 1)), split)
    learned = held_out_recall_at_10(recommender.scores(np.arange(split.n_users), "test"), split)
    assert learned > baseline + 0.2, (objective, learned, baseline, recommender.history)
    assert 1 <= recommender.history.best_epoch <= FAST.epochs


def test_fit_is_deterministic_for_a_seed(
    split: EvaluationSplit, fitted: PinnerFormerRecommender
) -> None:
    again = PinnerFormerRecommender(FAST)
    again.fit(split)
    assert again.history.train_loss == fitted.history.train_loss
    users = np.arange(10)
    np.testing.assert_array_equal(again.scores(users, "test"), fitted.scores(users, "test"))


def test_embed_users_matches_scores_on_train_histories(
    split: EvaluationSplit, fitted: PinnerFormerRecommender
) -> None:
    items, times = split.train[:5], split.train_times[:5]
    vectors = fitted.embed_users(items, times)
    expected = fitted.scores(np.arange(5), "validation")
    np.testing.assert_allclose(vectors @ fitted.item_vectors().T, expected, atol=1e-6)
    assert not fitted.embed_users([np.array([], dtype=int)], [np.array([])]).any()


def test_checkpoint_round_trip_reproduces_scores(split: EvaluationSplit, tmp_path: Path) -> None:
    features = np.eye(CLUSTERS)[np.arange(split.n_items) // CLUSTER_SIZE]
    config = dataclasses.replace(FAST, epochs=2)
    recommender = PinnerFormerRecommender(config, item_features=features, bias_features=features[:, :2])
    recommender.fit(split)
    recommender.save(tmp_path / "pinnerformer.pt")
    loaded = PinnerFormerRecommender.load(tmp_path / "pinnerformer.pt", split)
    assert loaded.config == recommender.config
    users = np.arange(split.n_users)
    np.testing.assert_array_equal(loaded.scores(users, "test"), recommender.scores(users, "test"))


def test_a_score_bias_learns_popularity_from_its_features(split: EvaluationSplit) -> None:
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items)
    log_counts = np.log1p(counts)[:, None] / np.log1p(counts).max()
    biases = {}
    for epochs in (0, 3):  # 0: the weights at initialization, the same seed
        recommender = PinnerFormerRecommender(dataclasses.replace(FAST, epochs=epochs), bias_features=log_counts)
        recommender.fit(split)
        assert recommender.model is not None
        with torch.inference_mode():
            biases[epochs] = recommender.model.item_bias().numpy()
    # The logQ-corrected softmax learns log p(item | user): training lifts popular items above rare ones.
    lift = {epochs: bias[counts.argmax()] - bias[counts.argmin()] for epochs, bias in biases.items()}
    assert lift[3] > lift[0] + 0.02
    cosines = recommender.scores(np.arange(5), "test") - biases[3][None, :]
    assert np.abs(cosines).max() <= 1.0 + 1e-5  # the rest of a score is a cosine


def test_unusable_checkpoints_raise_checkpoint_error(
    fitted: PinnerFormerRecommender, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "good.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((tmp_path / "good.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        PinnerFormerRecommender.load(corrupt)
    other_kind = tmp_path / "other.pt"
    save_checkpoint(other_kind, kind="text_tower", config=FAST, state={})
    with pytest.raises(CheckpointError, match="text_tower"):
        PinnerFormerRecommender.load(other_kind)
    assert fitted.model is not None
    state = {"n_items": fitted.model.n_items, "model": dict(fitted.model.state_dict())}
    mismatched = tmp_path / "mismatched.pt"
    narrower = dataclasses.replace(FAST, dim=16)
    save_checkpoint(mismatched, kind="pinnerformer", config=narrower, state=state)
    with pytest.raises(CheckpointError, match="does not fit"):
        PinnerFormerRecommender.load(mismatched)
