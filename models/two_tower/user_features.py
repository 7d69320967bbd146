"""The two-tower's categorical user features (country, language, ...) as codes in its vocabularies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.two_tower.config import TwoTowerConfig


def user_feature_codes(frame: pd.DataFrame | None, config: TwoTowerConfig, n_users: int) -> np.ndarray:
    """``[n_users, n_features]`` int64 codes of ``frame``'s rows (one per user, columns
    ``config.user_feature_names``) in the config's vocabularies; 0 for unknown or missing."""
    codes = np.zeros((n_users, len(config.user_feature_names)), dtype=np.int64)
    if frame is None or not config.user_feature_names:
        return codes
    if len(frame) != n_users:
        raise ValueError(f"user features have {len(frame)} rows for {n_users} users")
    for column, (name, values) in enumerate(zip(config.user_feature_names, config.user_feature_values)):
        vocabulary = {value: code for code, value in enumerate(values, start=1)}
        codes[:, column] = [vocabulary.get(str(value), 0) for value in frame[name].tolist()]
    return codes
