"""Which utility weights a request is served, on every surface: the stored default or the user's
experiment arm, an explicit override on top, and the code's defaults when the database cannot say."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from models.utility import UtilityWeights, bounded_weight
from service.experiments import weights_for
from sql.utility_weights import Arm, default_weights, list_arms

WEIGHT_NAMES = frozenset(field.name for field in dataclasses.fields(UtilityWeights))


@dataclass(frozen=True)
class WeightsOverride:
    """Weights a request names itself (``?weights=creator=1.5,ad=0``); the others stay as stored."""

    values: Mapping[str, float]

    def __post_init__(self) -> None:
        for name, value in self.values.items():
            if name not in WEIGHT_NAMES:
                raise ValueError(f"unknown utility weight {name!r}; known: {', '.join(sorted(WEIGHT_NAMES))}")
            bounded_weight(name, value)

    @classmethod
    def parse(cls, text: str) -> WeightsOverride:
        """Read ``"creator=1.5,ad=0"``; raises ValueError where ``UtilityWeights.parse`` does
        (a value not finite or outside 0..MAX_WEIGHT among them)."""
        parsed = UtilityWeights.parse(text)  # validates names and values
        named = {piece.partition("=")[0].strip() for piece in text.split(",")}
        return cls({name: getattr(parsed, name) for name in sorted(named)})

    def applied_to(self, weights: UtilityWeights) -> UtilityWeights:
        """``weights`` with the named ones replaced."""
        return dataclasses.replace(weights, **self.values)

    @property
    def names_every_weight(self) -> bool:
        return set(self.values) == WEIGHT_NAMES


@dataclass(frozen=True)
class StoredWeights:
    """The weights in the ``utility_weights`` table: the default and the experiment arms."""

    default: UtilityWeights
    arms: list[Arm]


def read_stored_weights(conn: Connection) -> StoredWeights:
    """The stored default weights and every experiment arm."""
    return StoredWeights(default_weights(conn), list_arms(conn))


@dataclass(frozen=True)
class ServedWeights:
    """The weights a page is blended with, the arm they come from, and whether the stored ones were missing."""

    weights: UtilityWeights
    arm: str | None = None
    degraded: bool = False  # the database could not give the stored weights, and they mattered

    @property
    def degraded_sources(self) -> list[str]:
        return ["utility_weights"] if self.degraded else []


def served_weights(
    stored: StoredWeights | None, *, user_id: int | None, override: WeightsOverride | None
) -> ServedWeights:
    """The weights to serve a request of ``user_id`` (None: anonymous), the same on every surface.

    Without ``override``: the weights of the user's experiment arm, or the stored default (users
    outside every arm, anonymous requests). With one: the stored default with the named weights
    replaced, outside any arm (an explicit choice is no experiment observation). With ``stored``
    None (the database could not answer): the code's defaults in place of the stored ones,
    degraded unless ``override`` names every weight."""
    if stored is None:
        base, arm = UtilityWeights(), None
    elif override is None and user_id is not None:
        base, arm = weights_for(user_id, default=stored.default, arms=stored.arms)
    else:
        base, arm = stored.default, None
    if override is None:
        return ServedWeights(base, arm, degraded=stored is None)
    return ServedWeights(override.applied_to(base), degraded=stored is None and not override.names_every_weight)
