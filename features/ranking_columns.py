"""Which ``<view>__<feature>`` columns the ranker reads, split into its user and pin blocks."""

from __future__ import annotations

from features.engagement_rates import ENGAGEMENT_FEATURES

USER_NUMERIC = [f"user_engagement__{name}" for name in ENGAGEMENT_FEATURES]
USER_CATEGORICAL = ["user_profile__country", "user_profile__language", "user_profile__age_bucket"]
PIN_NUMERIC = [f"pin_engagement__{name}" for name in ENGAGEMENT_FEATURES]
PIN_CATEGORICAL = ["pin_profile__category", "pin_profile__is_ad", "pin_profile__is_shopping"]
