"""The known utility model that turns impressions into clicks, saves, long clicks and hides."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(logit: np.ndarray) -> np.ndarray:
    """Elementwise logistic function."""
    return 1.0 / (1.0 + np.exp(-logit))


@dataclass(frozen=True)
class UtilityModel:
    """Logit coefficients of each action; ``affinity`` is the user-pin taste dot product."""

    affinity_weight: float = 3.0
    position_bias: float = 0.45
    click_bias: float = -4.3
    query_match_bonus: float = 1.0
    ad_penalty: float = -0.4
    save_affinity_weight: float = 1.5
    save_bias: float = -1.8
    long_click_quality_weight: float = 1.0
    long_click_bias: float = -1.0
    hide_affinity_weight: float = 2.5
    hide_bias: float = -4.0

    def click(
        self,
        affinity: np.ndarray,
        quality: np.ndarray,
        position: np.ndarray,
        query_match: np.ndarray,
        is_ad: np.ndarray,
    ) -> np.ndarray:
        """P(click | impression)."""
        logit = (
            self.affinity_weight * affinity
            + quality
            - self.position_bias * np.log1p(position)
            + self.query_match_bonus * query_match
            + self.ad_penalty * is_ad
            + self.click_bias
        )
        return sigmoid(logit)

    def save(self, affinity: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """P(save | click)."""
        return sigmoid(self.save_affinity_weight * affinity + 0.5 * quality + self.save_bias)

    def long_click(self, quality: np.ndarray) -> np.ndarray:
        """P(long click | click)."""
        return sigmoid(self.long_click_quality_weight * quality + self.long_click_bias)

    def hide(self, affinity: np.ndarray) -> np.ndarray:
        """P(hide | impression without a click): likelier the less the pin suits the user."""
        return sigmoid(self.hide_bias - self.hide_affinity_weight * affinity)
