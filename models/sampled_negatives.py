"""Sampled negative impressions for a log that holds too few unengaged ones.

Where every logged impression was engaged (MovieLens writes an impression and a click per rating;
many users' folders log engagements only), the click head has no negatives to learn from. Each
labelled impression then gets ``per_impression`` pins its user had not engaged with by the end of
the impression's day (the labels' horizon), drawn in proportion to their engagements before that
day plus one, at the same user, time and position, with every action label 0. Drawing by
popularity gives the negatives the positives' popularity, so the ranker cannot separate them by
popularity alone and must learn who engages with what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_UNENGAGED_SHARE = 0.05  # below this share of impressions without a click, negatives are sampled
NEGATIVES_PER_IMPRESSION = 4
MAX_ROUNDS = 50  # draws of a row that keep landing on the user's engaged pins; then it is dropped


@dataclass(frozen=True)
class NegativeSampling:
    """The training impressions (logged rows first, then sampled ones), how many were sampled and why."""

    impressions: pd.DataFrame
    sampled: int
    reason: str


def unengaged_share(impressions: pd.DataFrame) -> float:
    """The share of labelled impressions without a click (0 for none)."""
    return float(impressions["click"].eq(0).mean()) if len(impressions) else 0.0


def with_sampled_negatives(
    impressions: pd.DataFrame,
    engagements: pd.DataFrame,
    pin_ids: np.ndarray,
    *,
    actions: Sequence[str],
    seed: int,
    per_impression: int = NEGATIVES_PER_IMPRESSION,
    min_unengaged_share: float = MIN_UNENGAGED_SHARE,
) -> NegativeSampling:
    """``impressions`` unchanged when at least ``min_unengaged_share`` of them went without a click,
    else followed by ``per_impression`` sampled negatives for each (``sample_negatives``)."""
    share = unengaged_share(impressions)
    logged = f"{share:.1%} of {len(impressions)} logged impressions went without a click"
    if share >= min_unengaged_share or impressions.empty:
        return NegativeSampling(impressions, 0, f"{logged} (at least {min_unengaged_share:.0%}): none sampled")
    negatives = sample_negatives(
        impressions, engagements, pin_ids, actions=actions, per_impression=per_impression, seed=seed
    )
    reason = (
        f"{logged} (under {min_unengaged_share:.0%}): {per_impression} pins per impression drawn by "
        "popularity before its day, none engaged by its user by the end of that day"
    )
    return NegativeSampling(pd.concat([impressions, negatives], ignore_index=True), len(negatives), reason)


def sample_negatives(
    impressions: pd.DataFrame,
    engagements: pd.DataFrame,
    pin_ids: np.ndarray,
    *,
    actions: Sequence[str],
    per_impression: int,
    seed: int,
) -> pd.DataFrame:
    """``per_impression`` copies of each impression (user_id, pin_id, event_timestamp, position and
    the ``actions`` columns) with its pin replaced by one of ``pin_ids`` that its user had not engaged
    with (``engagements``: user_id, pin_id, ts) by the end of the impression's day, drawn with weight
    1 + the pin's engagements before that day, and every action label 0. Deterministic for ``seed``;
    a row whose draws keep landing on engaged pins for ``MAX_ROUNDS`` rounds is left out."""
    rows = impressions.loc[impressions.index.repeat(per_impression)].reset_index(drop=True)
    days = _day_numbers(rows["event_timestamp"])
    users = rows["user_id"].to_numpy(np.int64)
    catalogue = np.sort(np.asarray(pin_ids, dtype=np.int64))
    cumulative = _cumulative_popularity(engagements, catalogue, np.unique(days))
    engaged = _FirstEngagements(engagements)
    drawn = np.full(len(rows), -1, dtype=np.int64)
    pending = np.arange(len(rows))
    rng = np.random.default_rng(seed)
    for _ in range(MAX_ROUNDS):
        for day in np.unique(days[pending]):
            members = pending[days[pending] == day]
            weights = cumulative[day]
            drawn[members] = catalogue[np.searchsorted(weights, rng.random(len(members)) * weights[-1], side="right")]
        taken = engaged.by_day(users[pending], drawn[pending], days[pending])
        drawn[pending[taken]] = -1
        pending = pending[taken]
        if not pending.size:
            break
    kept = drawn >= 0
    negatives = rows[kept].assign(pin_id=drawn[kept])
    negatives[list(actions)] = 0
    return negatives.reset_index(drop=True)


def _day_numbers(ts: pd.Series) -> np.ndarray:
    """Each time's UTC day as a count of days since 1970-01-01."""
    utc = pd.to_datetime(ts, utc=True)
    return ((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(days=1)).to_numpy(np.int64)


def _cumulative_popularity(engagements: pd.DataFrame, catalogue: np.ndarray, days: np.ndarray) -> dict[int, np.ndarray]:
    """Per day of ``days`` (sorted): the running sum over ``catalogue`` of 1 + each pin's
    engagements on earlier days, the table that a uniform draw times its last entry searches."""
    pins = engagements["pin_id"].to_numpy(np.int64)
    positions = np.minimum(np.searchsorted(catalogue, pins), len(catalogue) - 1)
    in_catalogue = catalogue[positions] == pins
    engaged_days, positions = _day_numbers(engagements["ts"])[in_catalogue], positions[in_catalogue]
    counts = np.ones(len(catalogue))
    tables, counted = {}, 0
    order = np.argsort(engaged_days, kind="stable")
    engaged_days, positions = engaged_days[order], positions[order]
    for day in days:
        upto = int(np.searchsorted(engaged_days, day, side="left"))
        np.add.at(counts, positions[counted:upto], 1.0)
        counted = upto
        tables[int(day)] = np.cumsum(counts)
    return tables


class _FirstEngagements:
    """The day each user first engaged with each pin, looked up for many (user, pin) pairs at once."""

    def __init__(self, engagements: pd.DataFrame) -> None:
        first = (
            engagements.assign(day=_day_numbers(engagements["ts"]))
            .groupby(["user_id", "pin_id"], sort=False)["day"]
            .min()
            .reset_index()
        )
        keys = _pair_keys(first["user_id"].to_numpy(np.int64), first["pin_id"].to_numpy(np.int64))
        order = np.argsort(keys)
        self._keys, self._days = keys[order], first["day"].to_numpy(np.int64)[order]

    def by_day(self, users: np.ndarray, pins: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Whether each user had engaged with each pin by the end of each day."""
        keys = _pair_keys(users, pins)
        if not len(self._keys):
            return np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return (self._keys[at] == keys) & (self._days[at] <= days)


def _pair_keys(users: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """One int64 per (user, pin) pair (ids below 2**31)."""
    return users.astype(np.int64) << 31 | pins.astype(np.int64)
