"""What a request knows about its user: features, locale, vector, recent engagements, the pins to
exclude and their interests (nothing personal for an anonymous or unknown user)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from feast import FeatureStore
from sqlalchemy import Connection

from features.store import absent_features, fill_missing_features, on_postgres, online_features
from models.engagements import Engagements
from models.interests import LATEST_ENGAGEMENTS, interest_vectors
from service.database_guard import DatabaseUnavailable
from service.feature_tables import missing_views
from service.serving_state import ServingState
from service.stages import stage
from sql.events import user_history

log = logging.getLogger("corkboard.service")
NOBODY = Engagements.none()


@dataclass(frozen=True)
class UserHistory:
    """The user's latest engagements and the pins not to show them, as stored in Postgres."""

    engagements: Engagements
    excluded_pin_ids: list[int]


def read_user_history(conn: Connection, *, user_id: int, seen_days: int, max_excluded: int) -> UserHistory:
    """The user's latest engagements and the pins to exclude for them: engaged with or hidden ever, or
    shown within ``seen_days`` of their latest activity; the ``max_excluded`` most recent of those."""
    engagements, excluded = user_history(
        conn, user_id=user_id, limit=LATEST_ENGAGEMENTS, seen_days=seen_days, max_excluded=max_excluded
    )
    return UserHistory(engagements, excluded)


@dataclass(frozen=True)
class UserContext:
    """What the request knows about its user (nothing for an anonymous or unknown one)."""

    user_id: int | None
    locale: tuple[str, str] | None
    vector: np.ndarray | None
    features: np.ndarray  # the ranker's encoded user block, [1, user_dim]
    engagements: Engagements
    excluded_rows: frozenset[int]
    interest: np.ndarray  # share of engagement per category of the pin table's vocabulary
    feature_defaults: tuple[str, ...] = ()  # the user's feature views missing online, served as defaults
    degraded: tuple[str, ...] = ()  # "user_history" when the database could not give it
    two_tower_vector: np.ndarray | None = None  # from the latest engagements; the stored one without them

    @property
    def is_cold(self) -> bool:
        return len(self.engagements) == 0


def user_context(state: ServingState, user_id: int | None, history: UserHistory | None) -> UserContext:
    """The context of ``user_id`` (None: anonymous) with their stored ``history``.

    Features and locale come from the user table cached at load (the online store, read per
    request, for a user who arrived since); the vector from the serving embedding; the two-tower
    vector from the user tower over ``history`` (the stored one when ``history`` is None). A user
    whose ``history`` is None (the database could not give it) is served as one without history,
    with "user_history" degraded; a user whose online features could not be read, on defaults
    with "user_features" degraded."""
    with stage("feature_join"):
        served = user_features(state, user_id)
    two_tower = two_tower_vector(state, user_id, history)
    if user_id is None or history is None:
        return UserContext(
            user_id=user_id, locale=served.locale, vector=None, features=served.features, engagements=NOBODY,
            excluded_rows=frozenset(), interest=_interest(state, NOBODY), feature_defaults=served.missing,
            degraded=served.degraded + (() if user_id is None else ("user_history",)), two_tower_vector=two_tower,
        )
    vector = state.vectors.model.user_vectors_for(np.array([user_id]))[0]
    rows = state.vectors.model.pin_rows(np.asarray(history.excluded_pin_ids, dtype=np.int64))
    return UserContext(
        user_id=user_id, locale=served.locale, vector=vector if vector.any() else None, features=served.features,
        engagements=history.engagements, excluded_rows=frozenset(rows[rows >= 0].tolist()),
        interest=_interest(state, history.engagements), feature_defaults=served.missing, degraded=served.degraded,
        two_tower_vector=two_tower,
    )


def two_tower_vector(
    state: ServingState, user_id: int | None, history: UserHistory | None
) -> np.ndarray | None:
    """The user's two-tower vector: the user tower over their latest engagements when the request
    read them (so the last engagement already moves it), else the one stored at materialization;
    None for an anonymous user, a user without either, or no two-tower served."""
    if state.two_tower is None or user_id is None:
        return None
    if history is not None and len(history.engagements):
        with stage("user_vector"):
            vector = state.two_tower.on_request(user_id, history.engagements)
    else:
        vector = state.two_tower.stored.vector(user_id)
    return vector if vector is not None and vector.any() else None


@dataclass(frozen=True)
class UserFeatures:
    """The user's encoded feature block and where it came from."""

    features: np.ndarray  # [1, user_dim]
    missing: tuple[str, ...]  # the feature views served as defaults
    locale: tuple[str, str] | None
    degraded: tuple[str, ...] = ()  # "user_features" when the online store could not be read


def user_features(state: ServingState, user_id: int | None) -> UserFeatures:
    """The user's features: from the user table cached at load, else (a user who arrived since) from
    the online store; an anonymous user has none, so their defaults are served without a read."""
    row = None if user_id is None else state.users.row(user_id)
    if row is not None:
        missing = tuple(view for view, absent in zip(state.users.views, state.users.missing[row]) if absent)
        return UserFeatures(state.users.features[row : row + 1], missing, state.users.locale(row))
    if user_id is None:
        return UserFeatures(_encoded(state, absent_features(user_ids=[-1])), (), None)
    online = arrived_user_features(state, user_id)
    degraded = ("user_features",) if online is None else ()
    online = absent_features(user_ids=[user_id]) if online is None else online
    missing = tuple(view for view, absent in missing_views(online).iloc[0].items() if absent)
    return UserFeatures(_encoded(state, online), missing, _profile_locale(online), degraded)


def arrived_user_features(state: ServingState, user_id: int) -> pd.DataFrame | None:
    """``online_features`` of a user unknown at load. A Postgres online store is read as a database
    step over the request pool (the guard's deadline, pause after an outage and recovery); None when
    the database does not answer. A SQLite online store is a local file, read directly."""
    if not on_postgres(state.store):
        return online_features(state.store, user_ids=[user_id])
    try:
        return state.database.read(read_online_user, store=state.store, user_id=user_id)
    except DatabaseUnavailable as error:
        log.warning("online features of user %s unavailable: %s", user_id, error)
        return None


def read_online_user(conn: Connection, *, store: FeatureStore, user_id: int) -> pd.DataFrame:
    """The user's online features from the Postgres online store, over ``conn``'s driver connection."""
    return online_features(store, user_ids=[user_id], connection=conn.connection.driver_connection)


def _encoded(state: ServingState, online: pd.DataFrame) -> np.ndarray:
    return state.encoder.encode_users(fill_missing_features(online, state.defaults))


def _profile_locale(online: pd.DataFrame) -> tuple[str, str] | None:
    """The user's (country, language) from their online profile, if it has both."""
    country, language = online["user_profile__country"].iloc[0], online["user_profile__language"].iloc[0]
    return None if pd.isna(country) or pd.isna(language) else (str(country), str(language))


def _interest(state: ServingState, engagements: Engagements) -> np.ndarray:
    rows = state.vectors.model.pin_rows(engagements.pin_ids)
    codes = state.pins.category_code[rows[rows >= 0]]
    return interest_vectors(np.zeros(len(codes), dtype=np.int64), codes, 1, len(state.pins.categories))[0]
