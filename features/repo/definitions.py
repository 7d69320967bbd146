"""What `feast -c features/repo apply` registers: the Feast objects under CORKBOARD_DATA_DIR."""

from core.settings import get_settings
from features.feast_objects import feature_views, pin, ranking_service, user

# The Feast CLI collects objects from this module's attributes.
_views = feature_views(get_settings().feature_dir)
pin_engagement = _views["pin_engagement"]
user_engagement = _views["user_engagement"]
pin_profile = _views["pin_profile"]
user_profile = _views["user_profile"]
ranking = ranking_service(_views)

__all__ = [
    "pin",
    "pin_engagement",
    "pin_profile",
    "ranking",
    "user",
    "user_engagement",
    "user_profile",
]
