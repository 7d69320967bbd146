"""Two-tower retrieval: it learns planted structure better than popularity, its checkpoint round
trips, and the served home feed retrieves through its HNSW partition."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import text

from models.baselines import PopularityRecommender
from models.checkpoint import CheckpointError, save_checkpoint
from models.data_parallel import Shard
from models.leave_last_out import (
    EARLY_STOPPING_USERS,
    EvaluationSplit,
    early_stopping_recall,
    evaluate_recommender,
    user_sample,
)
from models.pinsage.recommender import item_inputs, pin_inputs
from models.served.user_tower import ServedUserTower
from models.training import sparse_and_dense_adam
from models.two_tower import TwoTowerConfig, TwoTowerRecommender
from models.two_tower import config as two_tower_config
from models.two_tower.model import TwoTower
from models.two_tower.recommender import pin_tower_vectors
from service.app import create_app
from service.surfaces.home_feed import home_feed
from tests.conftest import corkboard

CLUSTERS, CLUSTER_SIZE, USERS, LENGTH = 8, 30, 320, 16
WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "granite", "harbor")
FAST = TwoTowerConfig(
    dim=32,
    layers=1,
    heads=2,
    max_len=8,
    pin_hidden=32,
    pin_layers=1,
    neighbours=5,
    walks=20,
    buckets=2**12,
    epochs=8,
    patience=8,
    batch_size=32,
    random_negatives=64,
)


def planted_split(seed: int = 0) -> tuple[EvaluationSplit, pd.DataFrame]:
    """Items in clusters named by their text and category; each user's country names a home
    cluster, and 80% of their actions are unseen items of it (the rest of random clusters).
    Within a cluster popularity falls slowly with the item's index."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.sqrt(np.arange(1, CLUSTER_SIZE + 1))
    home = rng.integers(CLUSTERS, size=USERS)
    sequences = []
    for user in range(USERS):
        seen: list[int] = []
        while len(seen) < LENGTH:
            cluster = home[user] if rng.random() < 0.8 else int(rng.integers(CLUSTERS))
            item = cluster * CLUSTER_SIZE + int(rng.choice(CLUSTER_SIZE, p=weights / weights.sum()))
            if item not in seen:
                seen.append(item)
        sequences.append(np.array(seen))
    times = [1.7e9 + np.cumsum(rng.exponential(3600.0, LENGTH)) for _ in range(USERS)]
    n_items = CLUSTERS * CLUSTER_SIZE
    cluster_of = np.arange(n_items) // CLUSTER_SIZE
    split = EvaluationSplit(
        n_users=USERS,
        n_items=n_items,
        train=[s[:-2] for s in sequences],
        train_times=[t[:-2] for t in times],
        validation=np.array([s[-2] for s in sequences]),
        test=np.array([s[-1] for s in sequences]),
        item_text=[f"{WORDS[c]} pin {i}" for i, c in enumerate(cluster_of)],
        item_category=cluster_of.astype(str),
        board_items=[],
        item_ids=np.arange(n_items) + 1000,
        user_ids=np.arange(USERS) + 1,
        validation_times=np.array([t[-2] for t in times]),
    )
    countries = pd.DataFrame({"country": [f"c{c}" for c in home]}, index=split.user_ids)
    return split, countries


@pytest.fixture(scope="module")
def planted() -> tuple[EvaluationSplit, pd.DataFrame, TwoTowerRecommender]:
    split, countries = planted_split()
    recommender = TwoTowerRecommender(FAST, user_features=countries)
    recommender.fit(split.without_test())
    return split, countries, recommender


def test_learns_planted_clusters_better_than_popularity(planted):
    split, _, recommender = planted
    popularity = PopularityRecommender()
    popularity.fit(split.without_test())
    ours = evaluate_recommender(recommender, split, "test")
    baseline = evaluate_recommender(popularity, split, "test")
    assert ours["recall@10"] > baseline["recall@10"] + 0.1
    assert ours["ndcg@10"] > baseline["ndcg@10"]
    assert recommender.history.best_epoch >= 1 and len(recommender.history.validation) >= 1
    vectors = recommender.item_vectors
    assert vectors.shape == (split.n_items, FAST.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)


@dataclasses.dataclass(frozen=True)
class OwnPartOnly(Shard):
    """A shard whose ``total`` keeps its own process's part, so that a test can add the parts up."""

    def total(self, value: float) -> float:
        return value


def test_early_stopping_split_between_two_processes_adds_up_to_every_users_recall(planted):
    """Each of two training processes ranks its share of the validation users; their hits add up
    to the recall of all of them, which is what each process then stops on."""
    split, _, recommender = planted
    users = user_sample(split, EARLY_STOPPING_USERS)
    shares = [Shard(rank, 2).share(users) for rank in (0, 1)]
    assert sorted(np.concatenate(shares).tolist()) == users.tolist() and min(map(len, shares)) > 0
    whole = early_stopping_recall(recommender, split)
    assert 0 < whole < 1
    parts = [early_stopping_recall(recommender, split, OwnPartOnly(rank, 2)) for rank in (0, 1)]
    assert all(part > 0 for part in parts)
    assert sum(parts) == pytest.approx(whole, abs=1e-12)
    assert early_stopping_recall(recommender, split, Shard()) == whole


def test_with_sparse_per_pin_tables_it_still_learns_the_planted_clusters(planted, monkeypatch):
    split, countries, _ = planted
    monkeypatch.setattr(two_tower_config, "DENSE_TABLES_UP_TO", 0)
    recommender = TwoTowerRecommender(FAST, user_features=countries)
    recommender.fit(split.without_test())
    popularity = PopularityRecommender()
    popularity.fit(split.without_test())
    ours = evaluate_recommender(recommender, split, "test")
    assert ours["recall@10"] > evaluate_recommender(popularity, split, "test")["recall@10"] + 0.1


def test_user_features_alone_point_at_the_home_cluster(planted):
    recommender = planted[2]
    config = recommender.config
    assert config.user_feature_names == ("country",) and len(config.user_feature_values[0]) == CLUSTERS
    codes = np.array([[config.user_feature_values[0].index(f"c{c}") + 1] for c in range(CLUSTERS)])
    empty = [np.empty(0, dtype=np.int64)] * CLUSTERS
    vectors = recommender.embed_users(empty, [np.empty(0)] * CLUSTERS, codes)
    top = np.argsort(-(vectors @ recommender.item_vectors.T), axis=1)[:, :10] // CLUSTER_SIZE
    assert (top == np.arange(CLUSTERS)[:, None]).mean() > 0.6
    unknown = recommender.embed_users(empty[:1], [np.empty(0)], np.zeros((1, 1), dtype=np.int64))
    assert not unknown.any()  # no actions and no known feature: no direction


def test_a_large_catalogues_per_pin_tables_take_sparse_gradients_under_sparse_adam(planted, monkeypatch):
    """Above ``DENSE_TABLES_UP_TO`` pins a step costs the rows it reads: the pin ids and the user
    tower's item table get gradients on those rows alone, and SparseAdam steps them beside the pin
    tower's tokens. Up to it (the planted catalogue at the default) the two stay under dense Adam."""
    config, n_items = planted[2].config, planted[0].n_items
    tables = {"pin_ids.weight", "sequence.items.weight", "pin_tower.tokens.weight"}
    for up_to, sparse in ((two_tower_config.DENSE_TABLES_UP_TO, {"pin_tower.tokens.weight"}), (n_items - 1, tables)):
        monkeypatch.setattr(two_tower_config, "DENSE_TABLES_UP_TO", up_to)
        model = TwoTower(config, n_items)
        sparse_adam, adam = sparse_and_dense_adam(model, lr=1e-3)
        name_of = {id(parameter): name for name, parameter in model.named_parameters()}
        assert {name_of[id(parameter)] for parameter in sparse_adam.param_groups[0]["params"]} == sparse
        dense = set(name_of.values()) - sparse
        assert {name_of[id(parameter)] for parameter in adam.param_groups[0]["params"]} == dense

    # the last model's tables are sparse
    pins, items = torch.tensor([3, 7]), torch.tensor([[5, 9, n_items]])  # then padding
    users = model.users(items, torch.zeros_like(items), torch.zeros(1, 1, dtype=torch.int64))
    (model.with_ids(torch.ones(2, config.dim), pins).sum() + users[0, 1].sum()).backward()
    for name, read in (("pin_ids.weight", {3, 7}), ("sequence.items.weight", {5, 9})):
        gradient = model.get_parameter(name).grad
        assert gradient.is_sparse and set(gradient.coalesce().indices()[0].tolist()) == read


def test_checkpoint_round_trip(planted, tmp_path: Path):
    split, countries, recommender = planted
    path = tmp_path / "two_tower.pt"
    recommender.save(path)
    loaded = TwoTowerRecommender.load(path, split, user_features=countries)
    assert loaded.config == recommender.config
    users = np.arange(20)
    np.testing.assert_allclose(loaded.scores(users, "test"), recommender.scores(users, "test"), atol=1e-5)
    np.testing.assert_array_equal(loaded.item_ids, split.item_ids)
    loaded.embed_every_item()  # the pin graph rebuilt from the split, as after Ray Train
    np.testing.assert_allclose(loaded.item_vectors, recommender.item_vectors, rtol=0, atol=1e-6)
    elsewhere = TwoTowerRecommender(FAST, user_features=countries)  # as after Ray Train: trained elsewhere
    elsewhere.load_trained(path, split)
    elsewhere.embed_every_item()
    np.testing.assert_allclose(elsewhere.scores(users, "test"), recommender.scores(users, "test"), atol=1e-5)
    save_checkpoint(tmp_path / "other.pt", kind="pinsage", config=recommender.config, state={})
    with pytest.raises(CheckpointError, match="two_tower"):
        TwoTowerRecommender.load(tmp_path / "other.pt")


def test_pin_vectors_in_blocks_are_those_of_every_pin_at_once(planted):
    split, _, recommender = planted
    model, numeric = recommender.model, item_inputs(split, True, None)
    pins = pin_inputs(split, model.pin_tower, numeric, split_boards=True, history_boards=FAST.history_boards)
    whole = pin_tower_vectors(model, *pins, np.arange(split.n_items))
    in_blocks_of_seven = pin_tower_vectors(model, *pins, np.arange(split.n_items), block_size=7)
    np.testing.assert_allclose(in_blocks_of_seven, whole, rtol=0, atol=1e-6)
    assert whole.shape == (split.n_items, FAST.dim) and np.allclose(np.linalg.norm(whole, axis=1), 1, atol=1e-5)


def test_the_served_user_tower_embeds_as_the_recommender_does(planted, tmp_path: Path):
    split, countries, recommender = planted
    path = tmp_path / "two_tower.safetensors"
    recommender.save(path)
    served = ServedUserTower.load(path)
    np.testing.assert_array_equal(served.pin_ids, split.item_ids)
    assert served.pin_ids.flags.owndata  # a view of the checkpoint would keep the whole file (pin tower too) resident
    codes = recommender._codes.numpy()
    for user in range(5):
        items, times = split.history(user, "test"), split.history_times(user, "test")
        expected = recommender.embed_users([items], [times], codes[user : user + 1])[0]
        on_request = served.user_vector(split.item_ids[items], times, codes[user])
        np.testing.assert_allclose(on_request, expected, atol=1e-5)
    unknown_pins = served.user_vector(np.array([1, 2]), np.array([1.7e9, 1.7e9 + 60]), codes[0])
    np.testing.assert_allclose(unknown_pins, served.user_vector(np.empty(0, np.int64), np.empty(0), codes[0]))


def test_a_new_engagement_moves_the_on_request_vector(planted, tmp_path: Path):
    split, _, recommender = planted
    recommender.save(tmp_path / "two_tower.safetensors")
    served = ServedUserTower.load(tmp_path / "two_tower.safetensors")
    items, times = split.item_ids[split.history(0, "test")], split.history_times(0, "test")
    codes = np.zeros(1, dtype=np.int64)
    before = served.user_vector(items, times, codes)
    after = served.user_vector(np.append(items, split.item_ids[-1]), np.append(times, times[-1] + 60), codes)
    assert float(before @ after) < 0.999


def test_the_user_tower_loads_without_dgl():
    probe = "import sys, models.two_tower.user_tower, models.pinsage.pin_vectors; print('dgl' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_served_user_tower_loads_without_torch():
    probe = "import sys, models.served.user_tower; print(sorted({'torch', 'dgl'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="objective"):
        TwoTowerConfig(objective="next_pin")
    with pytest.raises(ValueError, match="divisible"):
        TwoTowerConfig(dim=30, heads=4)


@pytest.fixture(scope="module")
def client(materialized_tiny) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def test_home_feed_retrieves_through_the_two_tower_index(client):
    state = client.app.state.serving
    user_id = int(corkboard("users", "--limit", "1").stdout.split()[0])
    with state.engine.connect() as conn:
        active = conn.execute(text("SELECT version FROM model_versions WHERE kind = 'two_tower' AND active")).scalar()
        indexed = conn.execute(
            text("SELECT count(*) FROM pin_embeddings WHERE version = :v"),
            {"v": active},
        ).scalar()
        pins = conn.execute(text("SELECT count(*) FROM pins")).scalar()
    assert client.get("/readyz").json()["model_versions"]["two_tower"] == active
    assert indexed == pins
    page = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 500}).json()
    assert page["model_versions"]["two_tower"] == active
    assert "two_tower" in {source for item in page["items"] for source in item["sources"]}
    without = home_feed(dataclasses.replace(state, two_tower=None), user_id=user_id, k=500)
    assert "two_tower" not in without.model_versions
    assert "two_tower" not in {source for item in without.items for source in item.sources}
    assert without.items and without.degraded_sources == []
