"""Tokenizer and text tower: stable hashed tokens, topic-faithful query embeddings on the tiny
world (misspellings included), training pairs from co-engaged pin text where a world has no
searches, and an exact checkpoint round trip."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.sources.synthetic import generate_world
from core.sources.topics import TOPICS
from core.world import World
from models.checkpoint import CheckpointError, save_checkpoint
from models.actions import POSITIVE_ACTIONS
from models.embedding_store import chance_agreement
from models.pin_vector_file import PinVectorFile
from models.served.text_tower import load_text_index
from models.text_pin_vectors import text_vectors_of
from models.text_tower import (
    CO_ENGAGED_PIN_TEXT,
    MIN_SEARCH_PAIRS,
    SEARCH_ENGAGEMENTS,
    TextTower,
    TextTowerConfig,
    co_engaged_text_pairs,
    embed_texts,
    load_text_tower,
    pin_texts,
    save_text_tower,
    search_training_pairs,
    train_text_tower,
    training_pairs,
)
from models.tokenizer import TokenizerConfig, tokenize, word_tokens
from models.training import TrainingHistory

# One unseen misspelling per topic; long words keep most of their n-grams.
MISSPELLED = {
    "recipes": "casserol",
    "baking": "sourdouhg",
    "home decor": "farmhose",
    "diy crafts": "embroidary",
    "gardening": "succulants",
    "fashion": "streetware",
    "beauty": "moisturiser",
    "hair": "hairstlyes",
    "makeup": "mascarra",
    "weddings": "bridesmaides",
    "kids": "montesori",
    "pets": "retreiver",
    "photography": "photograpy",
    "art": "watercolour",
    "quotes": "affirmatons",
    "fitness": "stretchng",
    "travel": "itinerery",
    "outdoors": "stargazzing",
    "cars": "restoraton",
    "tech": "productivty",
}
Trained = tuple[TextTower, TrainingHistory, pd.DataFrame]


@pytest.fixture(scope="session")
def tiny_world() -> World:
    return generate_world("tiny")


@pytest.fixture(scope="module")
def trained(tiny_world: World) -> Trained:
    """The tower trained with the default config on the tiny world's search engagements."""
    pairs = search_training_pairs(tiny_world.events, tiny_world.pins)
    started = time.perf_counter()
    model, history = train_text_tower(pairs, tiny_world.pins, TextTowerConfig())
    print(f"text tower on tiny: {len(pairs)} pairs, {time.perf_counter() - started:.1f} s")
    return model, history, pairs


def _topic_precision(
    model: TextTower, world: World, queries: list[str], topics: list[str], k: int = 20
) -> np.ndarray:
    """Per query, the share of its top-k pins by cosine whose category is the query's topic."""
    scores = embed_texts(model, queries) @ embed_texts(model, pin_texts(world.pins)).T
    nearest = np.argsort(-scores, axis=1)[:, :k]
    categories = world.pins["category"].to_numpy()
    return (categories[nearest] == np.array(topics)[:, None]).mean(axis=1)


def _chance(world: World) -> float:
    """Share of the commonest category: the best top-k precision a random pick expects."""
    return float(world.pins["category"].value_counts(normalize=True).max())


# --- tokenizer ----------------------------------------------------------------------------


def test_word_tokens_are_the_marked_word_and_its_n_grams() -> None:
    assert word_tokens("pie", TokenizerConfig()) == ["<pie>", "<pi", "pie", "ie>", "<pie", "pie>"]
    assert word_tokens("a", TokenizerConfig()) == ["<a>"]


def test_tokenize_lowercases_splits_and_leaves_empty_text_without_ids() -> None:
    config = TokenizerConfig(buckets=1000)
    ids, offsets = tokenize(["Cozy  Rug!", "", "cozy rug", "   "], config)
    assert ids.dtype == np.int64 and offsets.dtype == np.int64
    assert offsets.tolist() == [0, len(ids) // 2, len(ids) // 2, len(ids)]
    np.testing.assert_array_equal(ids[: offsets[1]], ids[offsets[2] :])
    assert ids.min() >= 0 and ids.max() < 1000
    empty_ids, empty_offsets = tokenize([], config)
    assert empty_ids.size == 0 and empty_offsets.size == 0


def test_token_ids_do_not_depend_on_the_process_hash_seed() -> None:
    text = "sourdough bread"
    code = (
        "from models.tokenizer import TokenizerConfig, tokenize; "
        f"print(tokenize([{text!r}], TokenizerConfig())[0].tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(tokenize([text], TokenizerConfig())[0].tolist())


# --- training pairs -----------------------------------------------------------------------


def test_search_training_pairs_keep_search_engagements_with_a_query_on_known_pins() -> None:
    events = pd.DataFrame(
        {
            "pin_id": pd.array([None, 1, 1, 2, 1, 9, 1], dtype="Int64"),
            "action": ["search", "impression", "click", "save", "click", "long_click", "save"],
            "surface": ["search", "search", "search", "search", "homefeed", "search", "search"],
            "query": pd.array(["cake", "cake", "cake", "cake", None, "cake", None], dtype="string"),
        }
    )
    pins = pd.DataFrame({"pin_id": [1, 2], "title": ["a", "b"], "description": ["", ""]})
    pairs = search_training_pairs(events, pins)
    assert pairs.to_dict("list") == {"query": ["cake", "cake"], "pin_id": [1, 2]}


def _engagements(rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    """(user_id, pin_id, ts) rows as an engagements frame."""
    users, pins, times = zip(*rows)
    return pd.DataFrame({"user_id": users, "pin_id": pins, "ts": pd.to_datetime(times, utc=True)})


def test_co_engaged_pairs_take_the_text_of_the_pin_engaged_just_before() -> None:
    pins = pd.DataFrame(
        {"pin_id": [1, 2, 3], "title": ["red", "green", "blue"], "description": ["r", "g", pd.NA]}
    )
    engagements = _engagements([
        (7, 2, "2026-05-02"),
        (7, 1, "2026-05-01"),
        (7, 1, "2026-05-03"),  # the same pin again counts once, at its first engagement
        (7, 99, "2026-05-03"),  # not in the catalogue
        (7, 3, "2026-05-04"),
        (8, 3, "2026-05-01"),  # another user's first engagement follows nothing
        (8, 1, "2026-05-02"),
    ])
    pairs = co_engaged_text_pairs(engagements, pins)
    assert pairs.to_dict("list") == {"query": ["red r", "green g", "blue "], "pin_id": [2, 3, 1]}
    assert pairs.dtypes.to_dict() == {"query": "string", "pin_id": "int64"}


def test_co_engaged_pairs_keep_at_most_their_share_per_pin() -> None:
    pins = pd.DataFrame({"pin_id": [1, 2], "title": ["a", "b"], "description": ["", ""]})
    engagements = _engagements([(user, 1 + user % 2, "2026-05-01") for user in range(10)]
                               + [(user, 2 - user % 2, "2026-05-02") for user in range(10)])
    capped = co_engaged_text_pairs(engagements, pins, pairs_per_pin=3, seed=1)
    assert len(co_engaged_text_pairs(engagements, pins)) == 10 and len(capped) == 6
    pd.testing.assert_frame_equal(capped, co_engaged_text_pairs(engagements, pins, pairs_per_pin=3, seed=1))


def test_enough_searches_train_on_them_and_leave_engagements_unread(tiny_world: World) -> None:
    searches = search_training_pairs(tiny_world.events, tiny_world.pins)
    assert len(searches) >= MIN_SEARCH_PAIRS

    def unread() -> pd.DataFrame:
        raise AssertionError("engagements were read although searches sufficed")

    source, pairs = training_pairs(searches, tiny_world.pins, unread)
    assert source == SEARCH_ENGAGEMENTS and pairs is searches


def test_too_few_searches_train_on_co_engaged_pin_text(tiny_world: World) -> None:
    searches = search_training_pairs(tiny_world.events, tiny_world.pins).head(MIN_SEARCH_PAIRS - 1)
    source, pairs = training_pairs(searches, tiny_world.pins, lambda: tiny_world.events)
    assert source == CO_ENGAGED_PIN_TEXT
    pd.testing.assert_frame_equal(pairs, co_engaged_text_pairs(tiny_world.events, tiny_world.pins))


def test_without_searches_a_held_out_pins_title_finds_pins_of_its_topic(tiny_world: World) -> None:
    """The measure of the fallback: the tower never saw the held-out pins, yet their titles as
    queries retrieve pins of their category, better than the untrained tower's word overlap."""
    pins = tiny_world.pins
    held_out = pins.sample(frac=0.1, random_state=0)
    events = tiny_world.events
    kept = events[(events["surface"] != "search") & ~events["pin_id"].isin(held_out["pin_id"])]
    engaged = kept[kept["action"].isin(POSITIVE_ACTIONS)]
    source, pairs = training_pairs(search_training_pairs(kept, pins), pins, lambda: engaged)
    assert source == CO_ENGAGED_PIN_TEXT and not pairs["pin_id"].isin(held_out["pin_id"]).any()
    model, _ = train_text_tower(pairs, pins, TextTowerConfig())
    untrained, _ = train_text_tower(pairs, pins, TextTowerConfig(epochs=0))  # the same seeded start
    agreement = _title_query_agreement(model, pins, held_out.index.to_numpy())
    baseline = _title_query_agreement(untrained, pins, held_out.index.to_numpy())
    chance = chance_agreement(pins["category"].to_numpy())
    print(f"held-out title -> topic agreement@10: {agreement:.3f} (untrained {baseline:.3f}, chance {chance:.3f})")
    assert agreement > max(baseline + 0.1, 10 * chance)


def _title_query_agreement(model: TextTower, pins: pd.DataFrame, rows: np.ndarray, k: int = 10) -> float:
    """Share of the top-k pins (the queried pin left out) of each row's title as a query that
    have that row's category."""
    scores = embed_texts(model, pins["title"].iloc[rows].tolist()) @ embed_texts(model, pin_texts(pins)).T
    scores[np.arange(len(rows)), rows] = -np.inf
    nearest = np.argpartition(-scores, k, axis=1)[:, :k]
    categories = pins["category"].to_numpy()
    return float((categories[nearest] == categories[rows][:, None]).mean())


def test_training_rejects_pairs_on_pins_outside_the_catalogue(tiny_world: World) -> None:
    pairs = pd.DataFrame({"query": ["cake"], "pin_id": [10**9]})
    with pytest.raises(ValueError, match="missing from pins"):
        train_text_tower(pairs, tiny_world.pins, TextTowerConfig(buckets=64, epochs=1))


def test_training_is_deterministic_and_reports_each_epoch(tiny_world: World) -> None:
    pairs = search_training_pairs(tiny_world.events, tiny_world.pins).head(300)
    config = TextTowerConfig(buckets=2**12, hidden=16, dim=8, epochs=2, random_negatives=32)
    seen: list[tuple[int, float, float]] = []
    first, history = train_text_tower(
        pairs, tiny_world.pins, config, on_epoch=lambda *epoch: seen.append(epoch)
    )
    second, _ = train_text_tower(pairs, tiny_world.pins, config)
    assert [epoch for epoch, _, _ in seen] == [1, 2]
    assert history.train_loss == [loss for _, loss, _ in seen]
    assert history.best_epoch == 2 and history.validation == [] and not first.training
    texts = ["cozy rug", "sourdough"]
    np.testing.assert_array_equal(embed_texts(first, texts), embed_texts(second, texts))


# --- the trained tower --------------------------------------------------------------------


def test_embeddings_are_unit_vectors_even_for_empty_text(trained: Trained) -> None:
    model, history, _ = trained
    vectors = embed_texts(model, ["", "pasta", "Pasta!", "zzzz qqqq"], batch_size=3)
    assert vectors.shape == (4, model.config.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # the same tokens: equal up to the BLAS kernel that a row's place in the batch selects
    np.testing.assert_allclose(vectors[1], vectors[2], rtol=0, atol=1e-6)
    assert embed_texts(model, []).shape == (0, model.config.dim)
    assert history.train_loss[-1] < history.train_loss[0]


def test_topic_words_as_queries_find_pins_of_their_topic(
    trained: Trained, tiny_world: World
) -> None:
    model, _, _ = trained
    # Words of exactly one topic's vocabulary, so the right answer is unambiguous.
    queries = [
        (word, topic)
        for topic, words in TOPICS.items()
        for word in words
        if sum(word in other for other in TOPICS.values()) == 1
    ]
    precision = _topic_precision(
        model, tiny_world, [word for word, _ in queries], [topic for _, topic in queries]
    )
    chance = _chance(tiny_world)
    print(
        f"topic precision@20 of {len(queries)} topic words: {precision.mean():.3f} "
        f"(chance <= {chance:.3f})"
    )
    assert precision.mean() > 0.6
    assert (precision > 2 * chance).mean() > 0.8


def test_unseen_misspellings_land_near_their_topic(trained: Trained, tiny_world: World) -> None:
    model, _, pairs = trained
    seen_words = set(" ".join(pairs["query"]).split())
    assert not seen_words & set(MISSPELLED.values())
    precision = _topic_precision(model, tiny_world, list(MISSPELLED.values()), list(MISSPELLED))
    chance = _chance(tiny_world)
    print(f"misspelled topic precision@20: {precision.mean():.3f} (chance <= {chance:.3f})")
    assert precision.mean() > 0.5
    assert (precision > 2 * chance).sum() >= 14


def test_checkpoint_round_trip_reproduces_embeddings_exactly(
    trained: Trained, tmp_path: Path
) -> None:
    model, _, _ = trained
    path = tmp_path / "text_tower.pt"
    save_text_tower(path, model)
    loaded = load_text_tower(path)
    assert loaded.config == model.config and not loaded.training
    texts = ["sourdough bread", "", "hairstlyes", "boho living room"]
    np.testing.assert_array_equal(embed_texts(loaded, texts), embed_texts(model, texts))


def test_the_served_tower_embeds_as_the_trained_one(trained: Trained, tmp_path: Path) -> None:
    model, _, _ = trained
    path = tmp_path / "text_tower.pt"
    save_text_tower(path, model)
    served, kept = load_text_index(path)
    assert kept is None  # saved without the catalogue's vectors
    texts = ["sourdough bread", "", "hairstlyes", "zzzz qqqq", "boho living room"]
    np.testing.assert_allclose(served.embed(texts, batch_size=2), embed_texts(model, texts), rtol=0, atol=1e-6)
    quantized = served.quantized()
    cosines = (quantized.embed(texts) * embed_texts(model, texts)).sum(axis=1)
    assert cosines.min() > 0.9999
    assert quantized.tokens.nbytes < 0.27 * served.tokens.nbytes
    assert served.embed([]).shape == (0, model.config.dim)


def _served_tower(path: Path):
    return load_text_index(path)[0]


@pytest.mark.parametrize("load", [load_text_tower, _served_tower], ids=["torch", "served"])
def test_damaged_or_foreign_checkpoints_raise_checkpoint_error(tmp_path: Path, load) -> None:
    model = TextTower(TextTowerConfig(buckets=64, hidden=8, dim=4))
    path = tmp_path / "text_tower.pt"
    save_text_tower(path, model)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load(path)

    bigger = dataclasses.replace(model.config, hidden=16)
    save_checkpoint(path, kind="text_tower", config=bigger, state={"model": model.state_dict()})
    with pytest.raises(CheckpointError, match="does not fit"):
        load(path)
    save_checkpoint(path, kind="ranker", config=model.config, state={})
    with pytest.raises(CheckpointError, match="expected 'text_tower'"):
        load(path)


def test_the_file_keeps_the_catalogues_pin_vectors_as_given(trained: Trained, tmp_path: Path) -> None:
    model, _, _ = trained
    path = tmp_path / "text_tower.safetensors"
    texts = ["sourdough bread", "", "boho living room"]
    given = PinVectorFile(np.array([7, 3, 5]), embed_texts(model, texts))
    save_text_tower(path, model, given)
    tower, kept = load_text_index(path)
    assert kept is not None
    np.testing.assert_array_equal(kept.pin_ids, given.pin_ids)
    np.testing.assert_array_equal(kept.vectors, given.vectors)
    np.testing.assert_allclose(tower.embed(texts), given.vectors, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "entries, error",
    [
        ({"pin_ids": np.arange(3)}, "holds no pin vectors"),
        ({"pin_ids": np.arange(3), "pin_vectors": np.zeros((3, 5), dtype=np.float32)}, "of width 4"),
        ({"pin_ids": np.array([1, 1, 2]), "pin_vectors": np.zeros((3, 4), dtype=np.float32)}, "distinct"),
    ],
    ids=["ids alone", "another width", "repeated ids"],
)
def test_damaged_kept_pin_vectors_raise_checkpoint_error(tmp_path: Path, entries: dict, error: str) -> None:
    model = TextTower(TextTowerConfig(buckets=64, hidden=8, dim=4))
    path = tmp_path / "text_tower.safetensors"
    save_checkpoint(path, kind="text_tower", config=model.config, state={"model": model.state_dict(), **entries})
    with pytest.raises(CheckpointError, match=error):
        load_text_index(path)


def test_text_vectors_map_the_kept_pins_and_embed_only_the_others(trained: Trained, tiny_world: World) -> None:
    model, _, _ = trained
    pins = tiny_world.pins.iloc[:6].reset_index(drop=True)
    kept_rows = [3, 0, 2, 1]  # in another order than the pins
    kept = PinVectorFile(
        pins["pin_id"].to_numpy()[kept_rows], embed_texts(model, pin_texts(pins.iloc[kept_rows]))
    )
    pin_ids, by_id = pins["pin_id"].to_numpy(), pins.set_index("pin_id")
    embedded: list[list[int]] = []

    def embed_pins(ids):
        embedded.append(ids.tolist())
        return embed_texts(model, pin_texts(by_id.loc[ids]))

    vectors = text_vectors_of(pin_ids, kept, embed_pins)
    assert embedded == [pin_ids[4:].tolist()]
    np.testing.assert_array_equal(vectors[kept_rows], kept.vectors)
    np.testing.assert_allclose(vectors, embed_texts(model, pin_texts(pins)), rtol=0, atol=1e-6)

    embedded.clear()
    np.testing.assert_allclose(text_vectors_of(pin_ids, None, embed_pins), vectors, rtol=0, atol=1e-6)
    assert embedded == [pin_ids.tolist()]
    embedded.clear()
    np.testing.assert_array_equal(text_vectors_of(pin_ids[kept_rows], kept, embed_pins), kept.vectors)
    assert embedded == []  # the file holds every pin asked for: nothing is embedded
