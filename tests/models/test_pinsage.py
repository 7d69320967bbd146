"""PinSAGE: importance neighbours on a hand graph, inductive embedding of pins held out of
training on the tiny world, checkpoint round trips, and the evaluation protocol."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from core.sources.synthetic import generate_world
from models.checkpoint import CheckpointError, save_checkpoint
from models.embedding_store import chance_agreement
from models.leave_last_out import EvaluationSplit, evaluate_recommender
from models.pinsage import (
    PinFeatures,
    PinSage,
    PinSageConfig,
    PinSageRecommender,
    co_engaged_pairs,
    embed_items,
    importance_neighbours,
    load_pinsage,
    pin_board_graph,
    pin_features,
    save_pinsage,
    train_pinsage,
)
from models.pinsage.pin_vectors import load_pinsage_vectors
from models.pinsage.sampling import visit_counts
from models.tokenizer import tokenize

# Boards of pin 0: A, B, C. One hop from pin 0 reaches pin 1 with probability
# (1/3 + 1/2 + 1/4) / 3 = 13/36, pin 2 with (1/3 + 1/4) / 3 = 7/36, pin 3 with 1/12.
HAND_BOARDS = [np.array([0, 1, 2]), np.array([0, 1]), np.array([0, 1, 2, 3]), np.array([4, 5])]


def test_importance_neighbours_are_the_top_visit_counts() -> None:
    graph = pin_board_graph(7, HAND_BOARDS)  # pin 6 is on no board
    neighbours = importance_neighbours(graph, top_k=2, walks=20_000, walk_length=1, restart_prob=0.0, seed=3)
    sources, _ = neighbours.in_edges(0)
    weights = neighbours.edata["weight"][neighbours.in_edges(0, form="eid")].numpy()
    assert sorted(sources.tolist()) == [1, 2]  # pin 3 is visited less and cut by top_k
    by_pin = dict(zip(sources.tolist(), weights.tolist(), strict=True))
    assert by_pin[1] == pytest.approx(13 / 20, abs=0.02)  # visit counts, normalized over the kept
    assert by_pin[2] == pytest.approx(7 / 20, abs=0.02)
    assert neighbours.in_edges(4)[0].tolist() == [5]  # walks never leave their component
    assert neighbours.in_degrees(6) == 0
    again = importance_neighbours(graph, top_k=2, walks=20_000, walk_length=1, restart_prob=0.0, seed=3)
    assert (again.edata["weight"] == neighbours.edata["weight"]).all()  # seeded: reproducible


def test_importance_neighbours_keep_each_pins_most_visited() -> None:
    """Longer walks with restarts: the kept neighbours are exactly the top counts of the walks."""
    graph = pin_board_graph(7, HAND_BOARDS)
    rng = np.random.default_rng(5)
    row, visited, count = visit_counts(graph, np.arange(7), walks=50, walk_length=3, restart_prob=0.5, rng=rng)
    neighbours = importance_neighbours(graph, top_k=2, walks=50, walk_length=3, restart_prob=0.5, seed=5)
    for pin in range(7):
        mine = count[row == pin]
        order = np.lexsort((visited[row == pin], -mine))[:2]
        expected = dict(zip(visited[row == pin][order].tolist(), (mine[order] / mine[order].sum()).tolist()))
        sources, _, edges = neighbours.in_edges(pin, form="all")
        got = dict(zip(sources.tolist(), neighbours.edata["weight"][edges].tolist()))
        assert got.keys() == expected.keys()
        assert got == pytest.approx(expected)


def test_co_engaged_pairs_within_the_window_both_ways() -> None:
    pairs = co_engaged_pairs([np.array([5, 6, 5, 7]), np.array([9])], window=2)
    assert sorted(map(tuple, pairs.tolist())) == sorted(
        [(5, 6), (6, 5), (6, 5), (5, 6), (5, 7), (7, 5), (6, 7), (7, 6)]
    )


def test_text_input_is_the_mean_of_the_tokenizers_tokens() -> None:
    """Pins bag their distinct words once; the result is EmbeddingBag's mean over their tokens."""
    config = PinSageConfig(buckets=2**10, hidden=8, dim=8, categories=("a", "c"))
    texts = ["Hello world hello", "", "World of ÉTÉ café", "x"]
    features = pin_features(texts, ["a", "b", "c", "zzz"], tokenizer=config.tokenizer, known_categories=config.categories)
    model = PinSage(config)
    pins = np.array([2, 1, 0, 0, 3])
    inputs = features.select(pins)
    ids, offsets = tokenize([texts[p] for p in pins], config.tokenizer)
    expected = torch.nn.functional.embedding_bag(
        torch.from_numpy(ids), model.tokens.weight, torch.from_numpy(offsets), mode="mean"
    )
    words = torch.nn.functional.embedding_bag(inputs.token_ids, model.tokens.weight, inputs.word_offsets, mode="sum")
    torch.testing.assert_close(torch.sparse.mm(inputs.word_weights, words), expected)
    assert inputs.category.tolist() == [1, -1, 0, 0, -1]  # unknown labels get no one-hot
    assert model.encode(inputs).shape == (5, 8)
    wordless = pin_features(["", " ?"], ["a", "c"], tokenizer=config.tokenizer, known_categories=["a"])
    blank = wordless.select(np.array([1, 0]))
    assert blank.word_weights.shape == (2, 0)  # no word, no column: the text part is zero
    assert model.encode(blank).shape == (2, 8)


@dataclass(frozen=True)
class HeldOut:
    model: PinSage
    features: PinFeatures
    categories: np.ndarray
    held: np.ndarray
    boards: list[np.ndarray]
    train_boards: list[np.ndarray]


@pytest.fixture(scope="module")
def held_out() -> HeldOut:
    """PinSAGE trained on the tiny world with 10% of pins removed from graph and pairs.

    Features are text only: a category one-hot input would hand the model the topic."""
    world = generate_world("tiny")
    pins = world.pins.sort_values("pin_id")
    assert (pins["pin_id"].to_numpy() == np.arange(len(pins))).all()
    texts = (pins["title"].astype(str) + " " + pins["description"].astype(str)).tolist()
    categories = pins["category"].astype(str).to_numpy()
    edges = world.board_pins.sort_values(["board_id", "saved_at", "pin_id"])
    boards = [group["pin_id"].to_numpy() for _, group in edges.groupby("board_id")]
    held = np.sort(np.random.default_rng(0).choice(len(pins), len(pins) // 10, replace=False))
    is_held = np.isin(np.arange(len(pins)), held)
    train_boards = [board[~is_held[board]] for board in boards]
    config = PinSageConfig(buckets=2**14, hidden=32, dim=32, epochs=3, seed=1)
    features = pin_features(texts, categories, tokenizer=config.tokenizer, known_categories=())
    pairs = co_engaged_pairs(train_boards, window=2)
    assert not np.isin(pairs, held).any()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = PinSage(config)
    train_pinsage(model, pin_board_graph(len(pins), train_boards), features, pairs)
    return HeldOut(model, features, categories, held, boards, train_boards)


def _topic_agreement(vectors: np.ndarray, categories: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Share of each query pin's k nearest training pins (held-out pins excluded) with its category."""
    training = np.setdiff1d(np.arange(len(vectors)), queries)
    nearest = training[np.argsort(-(vectors[queries] @ vectors[training].T), axis=1)[:, :k]]
    return float((categories[nearest] == categories[queries][:, None]).mean())


def test_held_out_pins_embed_near_their_topic(held_out: HeldOut) -> None:
    h = held_out
    n_pins = h.features.n_pins
    # Inference graph: every board, so held-out pins bring their own edges.
    vectors = embed_items(h.model, pin_board_graph(n_pins, h.boards), h.features, np.arange(n_pins))
    without_edges = embed_items(h.model, pin_board_graph(n_pins, h.train_boards), h.features, np.arange(n_pins))
    chance = chance_agreement(h.categories)
    with_graph = _topic_agreement(vectors, h.categories, h.held)
    features_only = _topic_agreement(without_edges, h.categories, h.held)
    print(
        f"held-out pins: 10-NN topic agreement {with_graph:.3f} with their edges, "
        f"{features_only:.3f} from text alone, chance {chance:.3f}"
    )
    assert with_graph > 3 * chance
    assert with_graph > features_only + 0.05  # the unseen pins' neighbourhoods are used


def test_checkpoint_round_trip_reproduces_embeddings(held_out: HeldOut, tmp_path: Path) -> None:
    graph = pin_board_graph(held_out.features.n_pins, held_out.boards)
    path = tmp_path / "pinsage.pt"
    save_pinsage(path, held_out.model)
    loaded = load_pinsage(path)
    assert loaded.config == held_out.model.config
    items = np.concatenate([held_out.held, np.arange(50)])
    np.testing.assert_array_equal(
        embed_items(loaded, graph, held_out.features, items),
        embed_items(held_out.model, graph, held_out.features, items),
    )


def test_items_in_any_order_and_repeated_get_their_own_vectors(held_out: HeldOut) -> None:
    graph = pin_board_graph(held_out.features.n_pins, held_out.boards)
    every = embed_items(held_out.model, graph, held_out.features, np.arange(held_out.features.n_pins))
    items = np.array([5, 3, 3, 0, held_out.features.n_pins - 1, 5])
    in_batches_of_two = embed_items(held_out.model, graph, held_out.features, items, batch_size=2)
    np.testing.assert_allclose(in_batches_of_two, every[items], rtol=0, atol=1e-6)


def test_unusable_checkpoints_fail_clearly(held_out: HeldOut, tmp_path: Path) -> None:
    path = tmp_path / "pinsage.pt"
    save_pinsage(path, held_out.model)
    (tmp_path / "truncated.pt").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_pinsage(tmp_path / "truncated.pt")
    save_checkpoint(tmp_path / "other.pt", kind="text_tower", config=held_out.model.config, state={})
    with pytest.raises(CheckpointError, match="expected 'pinsage'"):
        load_pinsage(tmp_path / "other.pt")
    wider = dataclasses.replace(held_out.model.config, hidden=16)
    save_checkpoint(tmp_path / "mismatch.pt", kind="pinsage", config=wider, state={"model": held_out.model.state_dict()})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_pinsage(tmp_path / "mismatch.pt")


def toy_split() -> EvaluationSplit:
    """Users engage with items of two topics each."""
    rng = np.random.default_rng(0)
    n_items, n_users, topics = 60, 40, 6
    category = np.arange(n_items) % topics
    texts = [f"topic{c} item{i}" for i, c in enumerate(category)]
    histories = [
        rng.choice(np.flatnonzero(np.isin(category, rng.choice(topics, 2, replace=False))), 8, replace=False)
        for _ in range(n_users)
    ]
    return EvaluationSplit(
        n_users=n_users,
        n_items=n_items,
        train=[h[:-2] for h in histories],
        train_times=[np.arange(6) for _ in histories],
        validation=np.array([h[-2] for h in histories]),
        test=np.array([h[-1] for h in histories]),
        item_text=texts,
        item_category=category,
        board_items=[np.flatnonzero(category == c)[:3] for c in range(topics)],
        item_ids=np.arange(n_items),
        user_ids=np.arange(n_users),
        validation_times=np.full(n_users, 6.0),
    )


TOY_CONFIG = PinSageConfig(buckets=2**10, hidden=16, dim=16, epochs=15, patience=3, batch_size=64)


def test_recommender_follows_the_evaluation_protocol() -> None:
    """Fit and scores follow the protocol and the held-out items rank well above random."""
    split = toy_split()
    recommender = PinSageRecommender(TOY_CONFIG)
    recommender.fit(split)
    scores = recommender.scores(np.array([0, 5]), "test")
    assert recommender.name == "pinsage"
    assert scores.shape == (2, split.n_items) and np.isfinite(scores).all()
    assert recommender.model is not None and recommender.model.config.numeric_features == 1  # engagement
    assert 1 <= recommender.history.best_epoch <= len(recommender.history.validation) <= 15
    recall = evaluate_recommender(recommender, split, "test")["recall@10"]
    print(f"toy split: test recall@10 {recall:.3f}, random {10 / (split.n_items - 7):.3f}")
    assert recall > 2 * 10 / (split.n_items - 7)  # 7 history items are excluded from the ranking


def test_saved_vectors_read_back_without_the_network(tmp_path: Path) -> None:
    """Extra item features widen the numeric input; the served file holds every item's vector, and
    a recommender that loads it embeds them again over the rebuilt graph."""
    split = toy_split()
    extra = np.random.default_rng(1).normal(size=(split.n_items, 2)).astype(np.float32)
    recommender = PinSageRecommender(dataclasses.replace(TOY_CONFIG, epochs=2), item_features=extra)
    recommender.fit(split)
    assert recommender.model is not None and recommender.model.config.numeric_features == 3
    recommender.save(tmp_path / "pinsage.safetensors")
    served = load_pinsage_vectors(tmp_path / "pinsage.safetensors")
    np.testing.assert_array_equal(served.pin_ids, split.item_ids)
    np.testing.assert_array_equal(served.vectors, recommender.item_vectors)
    assert load_pinsage(tmp_path / "pinsage.safetensors").config == recommender.model.config
    loaded = PinSageRecommender(TOY_CONFIG, item_features=extra)  # as after Ray Train: the graph rebuilt
    loaded.load_trained(tmp_path / "pinsage.safetensors", split)
    loaded.embed_every_item()
    np.testing.assert_allclose(loaded.item_vectors, recommender.item_vectors, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="item_features"):
        PinSageRecommender(TOY_CONFIG, item_features=extra[:5]).fit(split)
