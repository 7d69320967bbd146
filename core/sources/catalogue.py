"""Synthetic topics and pins: latent vectors, creators, text, signatures, ads and shopping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.sources.topics import TOPIC_NAMES, TOPIC_TABLE
from core.sources.words import Vocabulary, capitalized, join_words

LATENT_DIM = 16
MAX_TITLE_WORDS = 5
MAX_DESCRIPTION_WORDS = 12
DAY_MS = 86_400_000


@dataclass(frozen=True)
class PinTruth:
    """What generated each pin (index = pin_id): the planted side the models should recover."""

    topic: np.ndarray  # primary topic index, also the pin's category
    second_topic: np.ndarray  # secondary topic index, -1 when the pin has one topic
    vectors: np.ndarray  # float32 (n_pins, LATENT_DIM), unit length
    quality: np.ndarray  # additive click logit
    popularity: np.ndarray  # relative chance to be shown
    created_ms: np.ndarray
    is_ad: np.ndarray
    title_words: np.ndarray  # global word indices (n_pins, MAX_TITLE_WORDS), -1 past the title


def topic_popularity() -> np.ndarray:
    """Relative share of attention per topic, in TOPIC_NAMES order."""
    return np.array([TOPIC_TABLE[name].popularity for name in TOPIC_NAMES])


def draw_topic_vectors(rng: np.random.Generator) -> np.ndarray:
    """Unit vectors (n_topics, LATENT_DIM); topics of one family share a component."""
    families = sorted({topic.family for topic in TOPIC_TABLE.values()})
    family_vectors = rng.normal(size=(len(families), LATENT_DIM))
    family_of = np.array([families.index(TOPIC_TABLE[name].family) for name in TOPIC_NAMES])
    vectors = 0.6 * family_vectors[family_of] + rng.normal(size=(len(TOPIC_NAMES), LATENT_DIM))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-shaped weights over n items in shuffled order."""
    return rng.permutation(1.0 / np.arange(1, n + 1) ** exponent)


def _pin_topics(n_pins: int, rng: np.random.Generator) -> np.ndarray:
    """Primary topic per pin, popular topics likelier, every topic at least once."""
    n_topics = len(TOPIC_NAMES)
    topic = rng.choice(n_topics, size=n_pins, p=_normalized(topic_popularity()))
    topic[: min(n_topics, n_pins)] = np.arange(min(n_topics, n_pins))
    return topic


def _second_topics(topic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For 30% of pins a different second topic, else -1."""
    n_topics = len(TOPIC_NAMES)
    other = (topic + rng.integers(1, n_topics, size=len(topic))) % n_topics
    return np.where(rng.random(len(topic)) < 0.3, other, -1)


def _pin_vectors(
    topic: np.ndarray, second: np.ndarray, topic_vectors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A topic mixture plus noise, unit length."""
    mixed = topic_vectors[topic] + 0.4 * np.where(second[:, None] >= 0, topic_vectors[second], 0.0)
    mixed += rng.normal(scale=0.15, size=mixed.shape)
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def _text(
    topic: np.ndarray, second: np.ndarray, vocabulary: Vocabulary, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Titles (3-5 topic words), descriptions (8-12 words) and the titles' word indices."""
    n = len(topic)
    title_len = rng.integers(3, MAX_TITLE_WORDS + 1, size=n)
    title_idx = vocabulary.sample(topic, MAX_TITLE_WORDS, rng, distinct=True)
    title_words = vocabulary.words[title_idx]
    title_words[:, 0] = capitalized(vocabulary.words)[title_idx[:, 0]]
    titles = join_words(title_words, title_len)

    # Descriptions mix in the second topic's words and generic filler words.
    desc_len = rng.integers(8, MAX_DESCRIPTION_WORDS + 1, size=n)
    word_topic = np.where(
        (second[:, None] >= 0) & (rng.random((n, MAX_DESCRIPTION_WORDS)) < 0.3),
        second[:, None],
        topic[:, None],
    )
    desc_idx = vocabulary.sample(word_topic.ravel(), 1, rng).reshape(n, MAX_DESCRIPTION_WORDS)
    desc_words = vocabulary.words[desc_idx]
    filler = rng.random(desc_words.shape) < 0.2
    desc_words[filler] = rng.choice(vocabulary.generic, size=int(filler.sum()))
    descriptions = join_words(desc_words, desc_len)

    padded = np.where(np.arange(MAX_TITLE_WORDS)[None, :] < title_len[:, None], title_idx, -1)
    return titles, descriptions, padded


def draw_pins(
    n_pins: int,
    n_creators: int,
    n_merchants: int,
    span_ms: tuple[int, int],
    topic_vectors: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, PinTruth]:
    """The pins table (pin_id = row index) and the truth behind each pin."""
    start_ms, end_ms = span_ms
    topic = _pin_topics(n_pins, rng)

    # Zipf creators; a tenth are new and only publish during the span.
    creator_weight = _normalized(_zipf_weights(n_creators, 1.1, rng))
    creator = rng.choice(n_creators, size=n_pins, p=creator_weight)
    history_ms = start_ms - 730 * DAY_MS
    debut = np.where(
        rng.random(n_creators) < 0.1,
        rng.integers(start_ms, end_ms, size=n_creators),
        history_ms,
    )
    lo = debut[creator]
    created = lo + (rng.random(n_pins) * (end_ms - lo)).astype(np.int64)

    quality = rng.normal(scale=0.6, size=n_pins)
    creator_pull = np.sqrt(creator_weight / creator_weight.max())[creator]
    popularity = np.exp(0.8 * quality + rng.normal(scale=1.0, size=n_pins)) * creator_pull

    signature = rng.integers(1, 2**62, size=n_pins)
    # Near-duplicates: re-uploads that copy another pin's image and topic.
    is_copy = rng.random(n_pins) < 0.05
    is_copy[: len(TOPIC_NAMES)] = False  # keep every topic's guaranteed pin
    copies, sources = np.flatnonzero(is_copy), np.flatnonzero(~is_copy)
    originals = sources[rng.integers(0, len(sources), size=len(copies))]
    signature[copies] = signature[originals]
    topic[copies] = topic[originals]
    second = _second_topics(topic, rng)

    titles, descriptions, title_words = _text(topic, second, Vocabulary(), rng)
    is_ad = rng.random(n_pins) < 0.05
    shopping = rng.random(n_pins) < 0.1
    merchant = rng.choice(
        n_merchants, size=n_pins, p=_normalized(_zipf_weights(n_merchants, 1.0, rng))
    )

    pins = pd.DataFrame(
        {
            "pin_id": np.arange(n_pins, dtype=np.int64),
            "creator_id": creator.astype(np.int64),
            "title": titles,
            "description": descriptions,
            "category": np.array(TOPIC_NAMES, dtype=object)[topic],
            "image_signature": signature,
            "is_ad": is_ad,
            "merchant_id": pd.arrays.IntegerArray(merchant.astype(np.int64), ~shopping),
            "created_at": pd.to_datetime(created, unit="ms", utc=True),
        }
    )
    truth = PinTruth(
        topic=topic,
        second_topic=second,
        vectors=_pin_vectors(topic, second, topic_vectors, rng),
        quality=quality,
        popularity=popularity,
        created_ms=created,
        is_ad=is_ad,
        title_words=title_words,
    )
    return pins, truth


def _normalized(weights: np.ndarray) -> np.ndarray:
    """Weights scaled to sum to 1."""
    return weights / weights.sum()
