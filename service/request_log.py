"""Home-feed requests logged for the utility tuner: the serving path's candidates and head
probabilities, before the blend, and what the similarity priors add to each pinner utility."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.similarity_prior import similarity_priors
from models.utility_tuner import PRIOR_COLUMN
from service.page import candidate_utilities
from service.serving_state import ServingState
from service.surfaces.home_feed import score_candidates


def log_requests(state: ServingState, *, users: list[int]) -> pd.DataFrame:
    """One home-feed request per user: each candidate's head probabilities, the similarity priors'
    part of its pinner utility (``similarity_prior``, at the served weights) and the attributes the
    blend and the page's filters need, in serving order (the user's exclusions already left out)."""
    frames = []
    weights = state.settings.prior_weights
    for request_id, user_id in enumerate(users):
        scored = score_candidates(state, user_id=user_id)
        prior = similarity_priors(candidate_utilities(scored, {})["pinner"], scored.similarities, weights)
        frames.append(
            pd.DataFrame(
                {
                    "request_id": request_id,
                    "user_id": user_id,
                    "pin_id": np.asarray(scored.pin_ids, dtype=np.int64),
                    **{action: np.asarray(probs, dtype=np.float64) for action, probs in scored.heads.items()},
                    PRIOR_COLUMN: prior,
                    "is_ad": np.asarray(scored.is_ad, dtype=bool),
                    "is_shopping": np.asarray(scored.is_shopping, dtype=bool),
                    "creator_pin_count": np.asarray(scored.creator_pin_count, dtype=np.float64),
                    "pin_age_days": np.asarray(scored.pin_age_days, dtype=np.float64),
                    "creator_id": state.pins.creator_id[scored.rows].astype(np.int64),
                    "image_signature": state.pins.image_signature[scored.rows].astype(np.int64),
                }
            )
        )
    if not frames:
        raise ValueError("no users to log requests for")
    return pd.concat(frames, ignore_index=True)
