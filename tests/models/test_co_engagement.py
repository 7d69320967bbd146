import numpy as np
import pytest

from models import embedding_store
from models.co_engagement import CoEngagementConfig, engagement_matrix, factorize, item_neighbours, popular_pins
from models.embedding_store import EmbeddingArtifact, chance_agreement, topic_agreement, topic_agreement_curve


def planted_engagement(seed: int = 0):
    """200 users each engaging with pins of one of 4 topics (50 pins per topic)."""
    rng = np.random.default_rng(seed)
    users, pins = [], []
    for user in range(200):
        topic = user % 4
        chosen = rng.choice(50, size=12, replace=False) + 50 * topic
        users += [user] * 12
        pins += chosen.tolist()
    actions = rng.choice(["click", "save", "impression"], size=len(users))
    return np.array(users), np.array(pins), actions, np.repeat(np.arange(4), 50)


def test_factorization_recovers_planted_topics():
    users, pins, actions, topics = planted_engagement()
    matrix = engagement_matrix(users, pins, actions, shape=(200, 200))
    model = factorize(matrix, np.arange(200), np.arange(200), CoEngagementConfig(dim=16))
    agreement = topic_agreement(model.pin_vectors, topics, sample=100, k=5, seed=0)
    assert agreement > 0.8 > chance_agreement(topics) + 0.5
    assert np.allclose(np.linalg.norm(model.pin_vectors[np.any(model.pin_vectors != 0, axis=1)], axis=1), 1, atol=1e-5)


def test_agreement_curve_reads_the_nearest_pins_in_order():
    # Pins on an arc at uneven gaps, topics in blocks of 4: a pin's nearest shares its topic more often
    # than its 3 nearest, and they more often than its 7 nearest.
    angles = np.cumsum(np.random.default_rng(0).uniform(0.01, 0.03, size=40))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    topics = np.arange(40) // 4
    curve = topic_agreement_curve(vectors, topics, sample=40, ks=(1, 3, 7), seed=0)
    assert curve[0] > curve[1] > curve[2] > 0
    assert curve[1] == topic_agreement(vectors, topics, sample=40, k=3, seed=0)
    few = topic_agreement_curve(vectors[:5], topics[:5], sample=5, ks=(1, 5), seed=0)
    assert few[0] == 0.8 and np.isnan(few[1])  # 5 pins: no pin has 5 others


def test_agreement_scored_in_blocks_is_the_agreement_scored_at_once(monkeypatch: pytest.MonkeyPatch):
    # Pins on the arc above, a quarter of them without a vector; the sampled pins one at a time or
    # all together.
    angles = np.cumsum(np.random.default_rng(1).uniform(0.01, 0.03, size=400))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    vectors[::4] = 0
    topics = np.arange(400) // 8
    curves = []
    for per_block in (1, 7, 500):
        monkeypatch.setattr(embedding_store, "QUERIES_PER_BLOCK", per_block)
        curves.append(topic_agreement_curve(vectors, topics, sample=120, ks=(1, 4, 12), seed=0))
    assert curves[0] == curves[1] == curves[2]
    assert curves[0][0] > 0.5


def test_impressions_and_hides_are_not_engagement():
    matrix = engagement_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array(["impression", "hide", "save"]), (2, 2))
    assert matrix.toarray().tolist() == [[0, 0], [0, 3]]


def test_neighbours_and_popularity_baselines():
    # pins 0 and 1 are co-engaged by two users, pin 2 by one user alongside 0.
    matrix = engagement_matrix(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 2]), np.array(["click"] * 6), (3, 3))
    neighbours = item_neighbours(matrix, k=2)
    assert neighbours[0].tolist() == [1, 2] and neighbours[1].tolist() == [0, -1]
    assert popular_pins(matrix, k=2).tolist() == [0, 1]


def test_artifact_round_trip_and_unknown_ids(tmp_path):
    users, pins, actions, _ = planted_engagement()
    matrix = engagement_matrix(users, pins, actions, shape=(200, 200))
    model = factorize(matrix, np.arange(200), np.arange(200) * 10, CoEngagementConfig(dim=8))
    artifact = EmbeddingArtifact(model, item_neighbours(matrix, 3), popular_pins(matrix, 5))
    artifact.save(tmp_path / "e.npz")
    loaded = EmbeddingArtifact.load(tmp_path / "e.npz")
    assert loaded.model.pin_rows(np.array([0, 10, 15])).tolist() == [0, 1, -1]
    vectors = loaded.model.pin_vectors_for(np.array([10, 15]))
    assert np.array_equal(vectors[0], model.pin_vectors[1]) and not vectors[1].any()
