"""Synthetic users: demographics, signup times, activity levels and interests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.sources.catalogue import DAY_MS, topic_popularity
from core.sources.interests import Interests, draw_interests

# country -> (share of users, language spoken there)
COUNTRIES: dict[str, tuple[float, str]] = {
    "US": (0.38, "en"),
    "GB": (0.09, "en"),
    "CA": (0.05, "en"),
    "DE": (0.08, "de"),
    "FR": (0.08, "fr"),
    "BR": (0.10, "pt"),
    "MX": (0.05, "es"),
    "IN": (0.10, "en"),
    "JP": (0.07, "ja"),
}
AGE_BUCKETS: dict[str, float] = {
    "18-24": 0.26,
    "25-34": 0.32,
    "35-44": 0.21,
    "45-54": 0.12,
    "55+": 0.09,
}


@dataclass(frozen=True)
class UserTruth:
    """What generated each user (index = user_id)."""

    interests: Interests
    activity: np.ndarray  # relative number of sessions
    signup_ms: np.ndarray


def _categorical(
    names: list[str], shares: list[float], n: int, rng: np.random.Generator
) -> np.ndarray:
    """n draws of ``names`` with the given shares, as an object array."""
    p = np.asarray(shares) / np.sum(shares)
    return np.array(names, dtype=object)[rng.choice(len(names), size=n, p=p)]


def draw_users(
    n_users: int, span_ms: tuple[int, int], rng: np.random.Generator
) -> tuple[pd.DataFrame, UserTruth]:
    """The users table (user_id = row index) and the truth behind each user."""
    start_ms, end_ms = span_ms
    countries = list(COUNTRIES)
    country = _categorical(countries, [COUNTRIES[c][0] for c in countries], n_users, rng)
    language = pd.Series(country).map({c: lang for c, (_, lang) in COUNTRIES.items()})
    age = _categorical(list(AGE_BUCKETS), list(AGE_BUCKETS.values()), n_users, rng)

    # Most users signed up within three years before the span; a tenth join during it.
    joins_late = rng.random(n_users) < 0.1
    signup = np.where(
        joins_late,
        rng.integers(start_ms, end_ms - DAY_MS, size=n_users),
        rng.integers(start_ms - 3 * 365 * DAY_MS, start_ms, size=n_users),
    )
    users = pd.DataFrame(
        {
            "user_id": np.arange(n_users, dtype=np.int64),
            "country": country,
            "language": language.to_numpy(dtype=object),
            "age_bucket": age,
            "signup_at": pd.to_datetime(signup, unit="ms", utc=True),
        }
    )
    truth = UserTruth(
        interests=draw_interests(n_users, topic_popularity(), rng),
        activity=rng.lognormal(mean=-0.32, sigma=0.8, size=n_users),
        signup_ms=signup,
    )
    return users, truth
