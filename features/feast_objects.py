"""corkboard's Feast objects: pin and user entities, their feature views, the ranking service.

Built for any feature folder, so tests and the Python API can point them elsewhere than the
CLI repository in ``features/repo`` does.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.feast_object import FeastObject
from feast.types import Bool, FeastType, Float64, Int64, String

from features.engagement_rates import ENGAGEMENT_COUNT_FEATURES, ENGAGEMENT_RATE_FEATURES

pin = Entity(name="pin", join_keys=["pin_id"], value_type=ValueType.INT64)
user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)

# A little over the longest engagement window, so a snapshot outlives the days it covers.
ENGAGEMENT_TTL = timedelta(days=35)
# Profiles change rarely; a decade keeps every profile row visible.
PROFILE_TTL = timedelta(days=3650)

ENGAGEMENT_SCHEMA: dict[str, FeastType] = {
    **{name: Int64 for name in ENGAGEMENT_COUNT_FEATURES},
    **{name: Float64 for name in ENGAGEMENT_RATE_FEATURES},
}
PIN_PROFILE_SCHEMA: dict[str, FeastType] = {
    "category": String,
    "is_ad": Bool,
    "is_shopping": Bool,
    "creator_id": Int64,
}
USER_PROFILE_SCHEMA: dict[str, FeastType] = {
    "country": String,
    "language": String,
    "age_bucket": String,
}

# Feature view name -> (entity, feature schema, ttl); each view reads `<name>.parquet`.
VIEW_SPECS: dict[str, tuple[Entity, dict[str, FeastType], timedelta]] = {
    "pin_engagement": (pin, ENGAGEMENT_SCHEMA, ENGAGEMENT_TTL),
    "user_engagement": (user, ENGAGEMENT_SCHEMA, ENGAGEMENT_TTL),
    "pin_profile": (pin, PIN_PROFILE_SCHEMA, PROFILE_TTL),
    "user_profile": (user, USER_PROFILE_SCHEMA, PROFILE_TTL),
}
OFFLINE_TABLES: tuple[str, ...] = tuple(VIEW_SPECS)


def offline_path(feature_dir: Path, table: str) -> Path:
    """The parquet file behind the feature view ``table``."""
    return feature_dir / "offline" / f"{table}.parquet"


def feature_views(feature_dir: Path) -> dict[str, FeatureView]:
    """Every feature view by name, reading its parquet file under ``feature_dir``."""
    return {
        name: FeatureView(
            name=name,
            entities=[entity],
            ttl=ttl,
            schema=[
                Field(name=entity.join_key, dtype=Int64),
                *(Field(name=feature, dtype=dtype) for feature, dtype in schema.items()),
            ],
            source=FileSource(
                name=f"{name}_source",
                path=str(offline_path(feature_dir, name)),
                timestamp_field="event_timestamp",
            ),
            online=True,
        )
        for name, (entity, schema, ttl) in VIEW_SPECS.items()
    }


def ranking_service(views: dict[str, FeatureView]) -> FeatureService:
    """The features the ranker trains on and serves with: all four views."""
    return FeatureService(name="ranking", features=[views[name] for name in OFFLINE_TABLES])


def repo_objects(feature_dir: Path) -> list[FeastObject]:
    """Everything ``feast apply`` registers, with sources under ``feature_dir``."""
    views = feature_views(feature_dir)
    return [pin, user, *views.values(), ranking_service(views)]

