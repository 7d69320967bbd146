"""Every pin's and every catalogue user's online features, read once per load and encoded for the
ranker, so that no request waits on the online store for them. They come from the serving
snapshot of the set (``features.serving_snapshot``, memory-mapped), and from Feast for the entities
it lacks. A Postgres online store is read over a fresh connection per table
(``features.store.online_connection``), so a load after an outage reads again instead of failing
on a connection that died."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
from feast import FeatureStore

from features.serving_snapshot import ServingSnapshot
from features.store import fill_missing_features, online_connection, online_features
from models.interests import category_codes
from models.ranker_features import FeatureEncoder
from service.database_guard import DatabaseUnavailable, describe

FEATURE_BATCH = 5_000


@dataclass(frozen=True)
class PinTable:
    """Per-pin arrays aligned with the embedding's sorted pin ids."""

    features: np.ndarray  # the ranker's encoded pin block
    is_ad: np.ndarray
    is_shopping: np.ndarray
    creator_id: np.ndarray
    creator_pin_count: np.ndarray
    age_days: np.ndarray
    image_signature: np.ndarray
    category: np.ndarray
    category_code: np.ndarray  # index into ``categories``
    categories: np.ndarray  # sorted vocabulary, as the ranker's interest feature was trained with
    default_features: np.ndarray  # True where a feature view of the pin was missing online


@dataclass(frozen=True)
class UserTable:
    """Every catalogue user's encoded online features, missing feature views and locale.

    Read once per load: the online store changes when ``online_features`` is materialized, and
    a reload (``POST /v1/admin/reload``) picks that up. Users unknown at load time are read from
    the online store per request.
    """

    user_ids: np.ndarray  # sorted
    features: np.ndarray  # the ranker's encoded user block, row-aligned with user_ids
    missing: np.ndarray  # [n_users, len(views)]: True where the view came back empty (defaults used)
    views: tuple[str, ...]
    country: np.ndarray
    language: np.ndarray

    def row(self, user_id: int) -> int | None:
        """The user's row, or None for a user unknown at load time."""
        row = int(np.searchsorted(self.user_ids, user_id))
        return row if row < len(self.user_ids) and self.user_ids[row] == user_id else None

    def locale(self, row: int) -> tuple[str, str] | None:
        """(country, language) of the user at ``row``, if the catalogue has both."""
        country, language = self.country[row], self.language[row]
        return None if pd.isna(country) or pd.isna(language) else (str(country), str(language))


def missing_views(features: pd.DataFrame) -> pd.DataFrame:
    """Per row of online features, whether each feature view came back empty (every
    ``<view>__<feature>`` column missing): its values are the defaults."""
    views = sorted({column.split("__")[0] for column in features if "__" in column})
    return pd.DataFrame(
        {view: features[[c for c in features if c.startswith(f"{view}__")]].isna().all(axis=1) for view in views},
        index=features.index,
    )


@dataclass(frozen=True)
class OnlineRows:
    """Where a load reads online features from: the serving snapshot, and the online store for the
    entities the snapshot lacks (all of them without a snapshot)."""

    store: FeatureStore
    snapshot: ServingSnapshot | None

    def read(self, key: str, ids: np.ndarray) -> pd.DataFrame:
        """``online_features`` of ``ids`` of the join key ``key`` ("pin_id" or "user_id"), in their order."""
        if self.snapshot is None:
            return _online_in_batches(self.store, key, ids)
        held_rows, held = self.snapshot.rows(key, ids)
        if held.all():
            return held_rows
        read = _online_in_batches(self.store, key, ids[~held])
        order = np.argsort(np.concatenate([np.flatnonzero(held), np.flatnonzero(~held)]), kind="stable")
        return pd.concat([held_rows, read], ignore_index=True).iloc[order].reset_index(drop=True)


def pin_table(
    rows: OnlineRows,
    encoder: FeatureEncoder,
    pin_ids: np.ndarray,
    catalogue: pd.DataFrame,
    defaults: dict[str, float],
) -> PinTable:
    """Encoded online features and blend attributes of every pin, in ``pin_ids`` order."""
    online = rows.read("pin_id", pin_ids)
    features = fill_missing_features(online, defaults)
    catalogue = catalogue.set_index("pin_id").reindex(pin_ids)
    age = datetime.now(UTC) - catalogue["created_at"]
    category = catalogue["category"].astype(str).to_numpy()
    vocabulary = np.unique(category)
    return PinTable(
        features=encoder.encode_pins(features),
        is_ad=catalogue["is_ad"].astype(bool).to_numpy(),
        is_shopping=catalogue["merchant_id"].notna().to_numpy(),
        creator_id=catalogue["creator_id"].to_numpy(dtype=np.int64),
        creator_pin_count=catalogue.groupby("creator_id")["creator_id"].transform("size").to_numpy(dtype=np.float64),
        age_days=(age.dt.total_seconds() / 86400).to_numpy(),
        image_signature=catalogue["image_signature"].to_numpy(dtype=np.int64),
        category=category,
        category_code=category_codes(category, vocabulary),
        categories=vocabulary,
        default_features=missing_views(online).any(axis=1).to_numpy(),
    )


def user_table(
    rows: OnlineRows, encoder: FeatureEncoder, users: pd.DataFrame, defaults: dict[str, float]
) -> UserTable:
    """Encoded online features, missing views and locale of every catalogue user, by sorted id."""
    users = users.sort_values("user_id", ignore_index=True)
    user_ids = users["user_id"].to_numpy(dtype=np.int64)
    online = rows.read("user_id", user_ids)
    missing = missing_views(online)
    return UserTable(
        user_ids=user_ids,
        features=encoder.encode_users(fill_missing_features(online, defaults)),
        missing=missing.to_numpy(dtype=bool),
        views=tuple(missing.columns),
        country=users["country"].to_numpy(dtype=object),
        language=users["language"].to_numpy(dtype=object),
    )


def _online_in_batches(store: FeatureStore, key: str, ids: np.ndarray) -> pd.DataFrame:
    """``online_features`` of ``ids`` of the join key ``key``, a batch at a time; DatabaseUnavailable
    when a Postgres online store cannot be read."""
    argument = f"{key}s"  # online_features takes pin_ids= or user_ids=
    try:
        with online_connection(store) as connection:
            frames = [
                online_features(store, **{argument: ids[start : start + FEATURE_BATCH]}, connection=connection)
                for start in range(0, len(ids), FEATURE_BATCH)
            ]
            if not frames:
                return online_features(store, **{argument: []}, connection=connection)
            return pd.concat(frames, ignore_index=True)
    except psycopg.Error as error:
        raise DatabaseUnavailable(f"online store: {describe(error)}") from error
