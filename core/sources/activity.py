"""Synthetic event log: sessions of impressions on three surfaces and the actions they draw."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.sources.pin_sampler import PinSampler, TitleWordIndex
from core.sources.topics import TOPIC_NAMES
from core.sources.truth import PlantedTruth
from core.sources.words import Vocabulary, join_words
from core.world import ACTIONS, SURFACES

HOMEFEED, RELATED, SEARCH = (SURFACES.index(s) for s in ("homefeed", "related", "search"))
IMPRESSION, CLICK, SAVE, LONG_CLICK, HIDE, SEARCH_QUERY = (
    ACTIONS.index(a) for a in ("impression", "click", "save", "long_click", "hide", "search")
)
SECOND_MS = 1000
SESSION_MARGIN_MS = 3600 * SECOND_MS  # the last session starts an hour before the span ends
MAX_QUERY_WORDS = 3


@dataclass(frozen=True)
class ActivitySettings:
    """How much users do and how each surface chooses what to show."""

    sessions_per_user: float
    impressions_per_session: float
    search_share: float = 0.2  # of sessions
    interest_share: float = 0.72  # of homefeed slots; the rest are popular or random pins
    popular_share: float = 0.2
    related_after_click: float = 0.12
    title_match_share: float = 0.6  # of search results, drawn among pins titled with the query


@dataclass(frozen=True)
class Log:
    """Event rows as parallel arrays; pin, query and position are -1 where missing."""

    user: np.ndarray
    pin: np.ndarray
    action: np.ndarray
    surface: np.ndarray
    query: np.ndarray
    position: np.ndarray
    ts_ms: np.ndarray

    @staticmethod
    def concat(logs: list[Log]) -> Log:
        """The rows of every log, in order."""
        fields = Log.__dataclass_fields__
        return Log(
            **{name: np.concatenate([getattr(log, name) for log in logs]) for name in fields}
        )

    def where(self, rows: np.ndarray) -> Log:
        """The rows selected by a mask or an index array."""
        return Log(**{name: getattr(self, name)[rows] for name in Log.__dataclass_fields__})

    def follow_up(self, rows: np.ndarray, action: int, ts_ms: np.ndarray) -> Log:
        """``action`` taken on the masked rows, at ``ts_ms`` (given for every row of self)."""
        taken = self.where(rows)
        return replace(taken, action=np.full(len(taken.pin), action), ts_ms=ts_ms[rows])


@dataclass(frozen=True)
class Blocks:
    """Lists of pins shown together: homefeed sessions, search result pages or related strips."""

    user: np.ndarray
    surface: int
    query: np.ndarray
    start_ms: np.ndarray
    slots: np.ndarray

    def slot_block(self) -> np.ndarray:
        """The block of every slot, slots of a block adjacent."""
        return np.repeat(np.arange(len(self.slots)), self.slots)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal adjacent labels."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def _show(
    truth: PlantedTruth,
    blocks: Blocks,
    pin: np.ndarray,
    query_match: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Log, np.ndarray]:
    """Impressions of the slots' pins, skipping pins not yet created or already in the block."""
    block = blocks.slot_block()
    # One slot every 6 s plus jitter below 5 s keeps slots in order within a block.
    ts = (
        blocks.start_ms[block]
        + (_rank_within(block) + 1) * 6 * SECOND_MS
        + rng.integers(0, 5 * SECOND_MS, len(block))
    )
    live = np.flatnonzero(truth.pins.created_ms[pin] <= ts)
    _, first = np.unique(block[live] * len(truth.pins.topic) + pin[live], return_index=True)
    keep = live[np.sort(first)]
    kept_block = block[keep]
    log = Log(
        user=blocks.user[kept_block],
        pin=pin[keep],
        action=np.full(len(keep), IMPRESSION),
        surface=np.full(len(keep), blocks.surface),
        query=blocks.query[kept_block],
        position=_rank_within(kept_block),
        ts_ms=ts[keep],
    )
    return log, query_match[keep]


def _react(
    truth: PlantedTruth, shown: Log, query_match: np.ndarray, rng: np.random.Generator
) -> Log:
    """Clicks, saves, long clicks and hides from the utility model, seconds after impressions."""
    n = len(shown.pin)
    utility = truth.utility
    affinity = truth.affinity(shown.user, shown.ts_ms, shown.pin)
    quality = truth.pins.quality[shown.pin]
    is_ad = truth.pins.is_ad[shown.pin]
    clicked = rng.random(n) < utility.click(affinity, quality, shown.position, query_match, is_ad)
    saved = clicked & (rng.random(n) < utility.save(affinity, quality))
    long_clicked = clicked & (rng.random(n) < utility.long_click(quality))
    hidden = ~clicked & (rng.random(n) < utility.hide(affinity))
    click_ms = shown.ts_ms + rng.integers(1 * SECOND_MS, 5 * SECOND_MS, n)
    return Log.concat(
        [
            shown.follow_up(clicked, CLICK, click_ms),
            shown.follow_up(saved, SAVE, click_ms + rng.integers(1 * SECOND_MS, 4 * SECOND_MS, n)),
            shown.follow_up(
                long_clicked, LONG_CLICK, click_ms + rng.integers(10 * SECOND_MS, 40 * SECOND_MS, n)
            ),
            shown.follow_up(
                hidden, HIDE, shown.ts_ms + rng.integers(1 * SECOND_MS, 3 * SECOND_MS, n)
            ),
        ]
    )


def _sessions(
    truth: PlantedTruth, settings: ActivitySettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(user, start) per session; active users have more, nobody before signing up."""
    users = truth.users
    counts = rng.poisson(settings.sessions_per_user * users.activity)
    user = np.repeat(np.arange(len(counts)), counts)
    start_ms, end_ms = truth.span_ms
    lo = np.maximum(start_ms, users.signup_ms[user])
    hi = end_ms - SESSION_MARGIN_MS
    return user, lo + (rng.random(len(user)) * (hi - lo)).astype(np.int64)


def _homefeed(
    truth: PlantedTruth,
    settings: ActivitySettings,
    sampler: PinSampler,
    user: np.ndarray,
    start_ms: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Log, np.ndarray]:
    """Homefeed sessions: mostly pins of the user's interests, some popular and random pins."""
    slots = 4 + rng.poisson(max(settings.impressions_per_session - 4, 0.0), len(user))
    blocks = Blocks(user, HOMEFEED, np.full(len(user), -1), start_ms, slots)
    block = blocks.slot_block()
    n = len(block)
    source = rng.random(n)
    pin = np.select(
        [
            source < settings.interest_share,
            source < settings.interest_share + settings.popular_share,
        ],
        [
            sampler.by_topic(truth.interest_topics(user[block], start_ms[block], rng), rng),
            sampler.overall(n, rng),
        ],
        rng.integers(0, len(truth.pins.topic), n),
    )
    return _show(truth, blocks, pin, np.zeros(n, dtype=bool), rng)


def _searches(
    truth: PlantedTruth,
    settings: ActivitySettings,
    sampler: PinSampler,
    user: np.ndarray,
    start_ms: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Log, Log, np.ndarray, np.ndarray]:
    """Search rows, their result impressions, whether each result's title holds the query's
    first word, and the query texts (indexed by Log.query)."""
    vocabulary = Vocabulary()
    topic = truth.interest_topics(user, start_ms, rng)
    words = vocabulary.sample(topic, MAX_QUERY_WORDS, rng, distinct=True)
    texts = join_words(vocabulary.words[words], rng.integers(1, MAX_QUERY_WORDS + 1, len(user)))
    query = np.arange(len(user))
    missing = np.full(len(user), -1)
    searched = Log(
        user=user,
        pin=missing,
        action=np.full(len(user), SEARCH_QUERY),
        surface=np.full(len(user), SEARCH),
        query=query,
        position=missing,
        ts_ms=start_ms,
    )

    blocks = Blocks(user, SEARCH, query, start_ms + 2 * SECOND_MS, 6 + rng.poisson(6, len(user)))
    block = blocks.slot_block()
    keyword = words[block, 0]
    titled = TitleWordIndex(truth.pins.title_words, len(vocabulary.words)).uniform(keyword, rng)
    by_topic = sampler.by_topic(topic[block], rng)
    pin = np.where(
        (rng.random(len(block)) < settings.title_match_share) & (titled >= 0), titled, by_topic
    )
    query_match = (truth.pins.title_words[pin] == keyword[:, None]).any(axis=1)
    results, query_match = _show(truth, blocks, pin, query_match, rng)
    return searched, results, query_match, texts


def _related(
    truth: PlantedTruth,
    settings: ActivitySettings,
    sampler: PinSampler,
    clicks: Log,
    rng: np.random.Generator,
) -> tuple[Log, np.ndarray]:
    """After some clicks, a short strip of pins of the clicked pin's topic."""
    opened = rng.random(len(clicks.pin)) < settings.related_after_click
    blocks = Blocks(
        clicks.user[opened],
        RELATED,
        np.full(int(opened.sum()), -1),
        clicks.ts_ms[opened] + 3 * SECOND_MS,
        3 + rng.poisson(2, int(opened.sum())),
    )
    block = blocks.slot_block()
    pin = sampler.by_topic(truth.pins.topic[clicks.pin[opened]][block], rng)
    return _show(truth, blocks, pin, np.zeros(len(block), dtype=bool), rng)


def _frame(log: Log, queries: np.ndarray) -> pd.DataFrame:
    """The events table, ordered by time, event ids counting up from 0."""
    log = log.where(np.argsort(log.ts_ms, kind="stable"))
    # Index -1 picks the appended None: rows outside search carry no query.
    query = np.concatenate([queries, np.array([None], dtype=object)])[log.query]
    return pd.DataFrame(
        {
            "event_id": np.arange(len(log.ts_ms), dtype=np.int64),
            "user_id": log.user.astype(np.int64),
            "pin_id": pd.arrays.IntegerArray(log.pin.astype(np.int64), log.pin < 0),
            "action": pd.Categorical.from_codes(log.action, categories=ACTIONS),
            "surface": pd.Categorical.from_codes(log.surface, categories=SURFACES),
            "query": query,
            "position": pd.arrays.IntegerArray(log.position.astype(np.int64), log.position < 0),
            "ts": pd.to_datetime(log.ts_ms, unit="ms", utc=True),
        }
    )


def generate_events(
    truth: PlantedTruth, settings: ActivitySettings, rng: np.random.Generator
) -> pd.DataFrame:
    """The event log: homefeed and search sessions, related strips after clicks, and actions."""
    sampler = PinSampler(truth.pins.topic, truth.pins.popularity, len(TOPIC_NAMES))
    user, start_ms = _sessions(truth, settings, rng)
    is_search = rng.random(len(user)) < settings.search_share
    feed, feed_match = _homefeed(
        truth, settings, sampler, user[~is_search], start_ms[~is_search], rng
    )
    searched, results, results_match, queries = _searches(
        truth, settings, sampler, user[is_search], start_ms[is_search], rng
    )
    shown = Log.concat([feed, results])
    reactions = _react(truth, shown, np.concatenate([feed_match, results_match]), rng)
    clicks = reactions.where(reactions.action == CLICK)
    strips, strips_match = _related(truth, settings, sampler, clicks, rng)
    strip_reactions = _react(truth, strips, strips_match, rng)
    log = Log.concat([searched, shown, reactions, strips, strip_reactions])
    return _frame(log, queries)
