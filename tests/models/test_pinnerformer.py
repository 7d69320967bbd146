"""PinnerFormer: a causal encoder, each objective learning planted sequential structure better
than popularity, the full and the sampled softmax, item words and action kinds as inputs, a seed
fixing every score on the tiny world, and an exact checkpoint round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from core.sources import load_world
from models.baselines import PopularityRecommender
from models.checkpoint import CheckpointError, save_checkpoint
from models.item_words import item_words
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world
from models.pinnerformer import SIZES, PinnerFormer, PinnerFormerRecommender
from models.pinnerformer_config import OBJECTIVES, PinnerFormerConfig, gap_buckets

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


def test_a_sparse_item_table_gives_the_same_outputs_and_takes_no_item_content() -> None:
    config = PinnerFormerConfig(dim=16, layers=1, heads=2, max_len=8)
    models = []
    for sparse_items in (False, True):
        torch.manual_seed(0)
        models.append(PinnerFormer(config, n_items=30, sparse_items=sparse_items).eval())
    items, gaps = torch.randint(30, (2, 8)), torch.randint(1, 10, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(models[1](items, gaps), models[0](items, gaps))
    with pytest.raises(ValueError, match="sparse_items"):
        PinnerFormer(config, n_items=30, item_features=torch.zeros(30, 4), sparse_items=True)


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


@pytest.mark.parametrize("layers", [1, 2])
def test_outputs_at_one_position_per_row_are_the_forward_outputs_there(layers: int) -> None:
    torch.manual_seed(0)
    config = PinnerFormerConfig(dim=16, layers=layers, heads=2, max_len=8, action_kinds=True)
    model = PinnerFormer(config, n_items=30).eval()
    items, gaps, kinds = torch.randint(30, (4, 8)), torch.randint(1, 10, (4, 8)), torch.randint(2, (4, 8))
    positions = torch.tensor([0, 3, 7, 5])
    with torch.inference_mode():
        every = model(items, gaps, kinds)[torch.arange(4), positions]
        at = model.outputs_at(items, gaps, kinds, positions)
    torch.testing.assert_close(at, every, atol=1e-6, rtol=1e-5)


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


# The registered setting (corkboard/evaluate/grids.py PINNERFORMER), short enough for a test.
TINY = PinnerFormerConfig(
    objective="dense_next_action",
    temperature=0.1,
    exclude_seen=True,
    action_kinds=True,
    text_buckets=2048,
    epochs=12,
    patience=12,
)


@pytest.fixture(scope="module")
def tiny_split() -> EvaluationSplit:
    world, _ = load_world("tiny")
    return split_world(world)


@pytest.fixture(scope="module")
def tiny_fitted(tiny_split: EvaluationSplit) -> PinnerFormerRecommender:
    recommender = PinnerFormerRecommender(TINY)
    recommender.fit(tiny_split.without_test())
    return recommender


def test_on_the_tiny_world_it_beats_popularity(tiny_split: EvaluationSplit, tiny_fitted: PinnerFormerRecommender) -> None:
    popularity = PopularityRecommender()
    popularity.fit(tiny_split.without_test())
    for stage in ("validation", "test"):
        learned = evaluate_recommender(tiny_fitted, tiny_split, stage)
        baseline = evaluate_recommender(popularity, tiny_split, stage)
        assert learned["ndcg@10"] > 2 * baseline["ndcg@10"], (stage, learned, baseline)
        assert learned["recall@10"] > baseline["recall@10"], (stage, learned, baseline)


def test_on_the_tiny_world_a_seed_fixes_every_score(tiny_split: EvaluationSplit, tiny_fitted: PinnerFormerRecommender) -> None:
    again = PinnerFormerRecommender(TINY)
    again.fit(tiny_split.without_test())
    users = np.arange(tiny_split.n_users)
    assert again.history.train_loss == tiny_fitted.history.train_loss
    np.testing.assert_array_equal(again.scores(users, "test"), tiny_fitted.scores(users, "test"))
    other_seed = PinnerFormerRecommender(dataclasses.replace(TINY, seed=1, epochs=1))
    other_seed.fit(tiny_split.without_test())
    assert other_seed.history.train_loss[0] != tiny_fitted.history.train_loss[0]


def test_item_words_change_the_scores_on_the_tiny_world(tiny_split: EvaluationSplit, tiny_fitted: PinnerFormerRecommender) -> None:
    without = PinnerFormerRecommender(dataclasses.replace(TINY, text_buckets=0))
    without.fit(tiny_split.without_test())
    with_words = evaluate_recommender(tiny_fitted, tiny_split, "validation")["ndcg@10"]
    assert with_words > evaluate_recommender(without, tiny_split, "validation")["ndcg@10"]
    assert tiny_fitted.model is not None and tiny_fitted.model.words is not None and without.model is not None
    assert without.model.words is None


def test_item_words_are_the_distinct_hashed_words_of_category_and_text() -> None:
    ids, offsets = item_words(["Drama", "", "Comedy"], ["Heat. Crime, Drama", "", "comedy"], buckets=1_000)
    assert offsets.tolist() == [0, 3, 3]  # drama, heat, crime; nothing; comedy once
    assert len(ids) == 4 and ids[0] == item_words(["drama"], [""], 1_000)[0][0] and ids[3] != ids[0]
    assert ((0 <= ids) & (ids < 1_000)).all()


def test_full_and_sampled_softmax_score_every_item_and_both_learn(split: EvaluationSplit) -> None:
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(float)
    baseline = held_out_recall_at_10(np.tile(counts, (split.n_users, 1)), split)
    users = np.arange(split.n_users)
    scores = {}
    for full_softmax_items in (split.n_items, split.n_items - 1):  # at the threshold: full; below: sampled
        config = dataclasses.replace(FAST, objective="dense_next_action", full_softmax_items=full_softmax_items)
        recommender = PinnerFormerRecommender(config)
        recommender.fit(split)
        scores[full_softmax_items] = recommender.scores(users, "test")
        assert scores[full_softmax_items].shape == (split.n_users, split.n_items)
        assert held_out_recall_at_10(scores[full_softmax_items], split) > baseline + 0.2
    assert not np.allclose(scores[split.n_items], scores[split.n_items - 1])


def test_excluding_seen_items_from_the_softmax_still_learns(split: EvaluationSplit) -> None:
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(float)
    baseline = held_out_recall_at_10(np.tile(counts, (split.n_users, 1)), split)
    config = dataclasses.replace(FAST, objective="dense_next_action", exclude_seen=True)
    recommender = PinnerFormerRecommender(config)
    recommender.fit(split)
    assert held_out_recall_at_10(recommender.scores(np.arange(split.n_users), "test"), split) > baseline + 0.2


def test_action_kinds_come_from_the_split_and_the_validation_kind_reaches_test_inputs(split: EvaluationSplit) -> None:
    config = dataclasses.replace(FAST, objective="dense_next_action", action_kinds=True, epochs=2)
    with pytest.raises(ValueError, match="train_actions"):
        PinnerFormerRecommender(config).fit(split)
    rng = np.random.default_rng(0)
    kinds = dataclasses.replace(
        split,
        train_actions=[rng.choice([0, 2], len(items)) for items in split.train],
        validation_actions=np.zeros(split.n_users, dtype=np.int64),
    )
    recommender = PinnerFormerRecommender(config)
    recommender.fit(kinds)
    users = np.arange(10)
    before = {stage: recommender.scores(users, stage) for stage in ("validation", "test")}
    recommender.split = dataclasses.replace(kinds, validation_actions=np.full(split.n_users, 2, dtype=np.int64))
    np.testing.assert_array_equal(recommender.scores(users, "validation"), before["validation"])
    assert not np.allclose(recommender.scores(users, "test"), before["test"])


def test_config_rejects_an_unknown_validation_metric() -> None:
    with pytest.raises(ValueError, match="validation_metric"):
        PinnerFormerConfig(validation_metric="auc")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("softmax", ["full", "sampled"])
def test_on_a_gpu_it_learns_as_on_the_cpu_and_hands_back_cpu_arrays(
    split: EvaluationSplit, softmax: str, tmp_path: Path
) -> None:
    full_softmax_items = split.n_items if softmax == "full" else split.n_items - 1
    kinds = dataclasses.replace(split, train_actions=[np.zeros(len(items), dtype=np.int64) for items in split.train])
    config = dataclasses.replace(
        FAST, objective="dense_next_action", full_softmax_items=full_softmax_items, exclude_seen=True, action_kinds=True
    )
    users = np.arange(split.n_users)
    recall = {}
    for device in ("cpu", "cuda"):
        recommender = PinnerFormerRecommender(config, device=device)
        recommender.fit(kinds)
        scores = recommender.scores(users, "test")
        assert isinstance(scores, np.ndarray) and isinstance(recommender.item_vectors(), np.ndarray)
        recall[device] = held_out_recall_at_10(scores, split)
    assert recommender.model is not None and recommender.model.device.type == "cuda"
    assert abs(recall["cuda"] - recall["cpu"]) <= 0.05, recall
    recommender.save(tmp_path / "pinnerformer.safetensors")
    loaded = PinnerFormerRecommender.load(tmp_path / "pinnerformer.safetensors", kinds)  # on the CPU
    np.testing.assert_allclose(loaded.scores(users, "test"), recommender.scores(users, "test"), atol=1e-4)
