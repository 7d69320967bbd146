"""Which utility weights a user is served: the default, or an experiment arm's by a stable hash."""

from __future__ import annotations

import hashlib

from models.utility import UtilityWeights
from sql.utility_weights import Arm

EXPERIMENT_SALT = "utility-weights-1"  # a new salt reshuffles which users land in which arm


def bucket(user_id: int, salt: str) -> float:
    """A uniform point in [0, 1) for ``user_id`` under ``salt``, the same in every process."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    # 53 bits: a float holds them exactly, so the point never rounds up to 1.0.
    return (int.from_bytes(digest[:8], "big") >> 11) / 2**53


def assign_arm(user_id: int, arms: list[Arm], salt: str) -> Arm | None:
    """The arm whose slice of [0, 1) holds the user's bucket, or None (the default weights).

    Arms are laid out by name with widths equal to their traffic, so the order of ``arms``
    does not matter and each arm gets its share of users.
    """
    point = bucket(user_id, salt)
    edge = 0.0
    for arm in sorted(arms, key=lambda arm: arm.name):
        edge += arm.traffic
        if point < edge:
            return arm
    return None


def weights_for(
    user_id: int, *, default: UtilityWeights, arms: list[Arm], salt: str = EXPERIMENT_SALT
) -> tuple[UtilityWeights, str | None]:
    """The weights to serve ``user_id`` and the name of their arm (None for the default)."""
    arm = assign_arm(user_id, arms, salt)
    return (default, None) if arm is None else (arm.weights, arm.name)
