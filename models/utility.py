"""Multi-stakeholder utility blend: head probabilities -> one ranking score (DESIGN.md section 1).

score = pinner + w_creator * creator + w_merchant * merchant + w_ad * ad

Each utility is an expected value per impression, computed from the ranker's head
probabilities and a few pin attributes:

- pinner   = 1.0 P(save) + 0.5 P(long_click) + 0.1 P(click) - 1.0 P(hide)
  (a save is the pinner's strongest signal of value; a long click shows real interest;
  a bare click is weak, since clickbait earns it too; a hide costs as much as a save gains)
- creator  = (P(save) + P(click)) * size_boost * freshness
  size_boost = 1 / log2(2 + pin_count)      (the creator's pins: 1 at none, falling slowly)
  freshness  = 1 + exp(-age_days / 14)      (a new pin counts double; the bonus fades in ~2 weeks)
- merchant = P(click) on shopping pins, else 0   (a click is a visit to the merchant)
- ad       = P(click) on ads, else 0             (expected revenue at unit cost per click)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

PINNER_ACTION_VALUES = {"save": 1.0, "long_click": 0.5, "click": 0.1, "hide": -1.0}
FRESHNESS_DAYS = 14.0
# The most a request or an operator may ask for: far above any useful blend (the tuner's grid
# stops at 2), low enough that no score overflows or drowns the pinner's utility in rounding.
MAX_WEIGHT = 100.0
SHOWN_CHARACTERS = 40  # of a caller's text echoed in an error, so that the error stays small


@dataclass(frozen=True)
class UtilityWeights:
    """Weights of the non-pinner utilities; the pinner's weight is fixed at 1."""

    creator: float = 0.3
    merchant: float = 0.2
    ad: float = 0.2

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"utility weight {name}={value!r} must be a finite number >= 0")
            # Frozen, so set directly: stored weights are plain floats whatever the caller passed.
            object.__setattr__(self, name, number)

    @classmethod
    def parse(cls, text: str) -> UtilityWeights:
        """Read ``"creator=1.5,ad=0"``; names left out keep their defaults.

        Raises ``ValueError`` for empty pieces, unknown or repeated names, values that are
        not numbers, and values that are not finite or outside 0..MAX_WEIGHT; the message quotes
        the text cut to SHOWN_CHARACTERS.
        """
        known = [field.name for field in dataclasses.fields(cls)]
        values: dict[str, float] = {}
        for piece in text.split(","):
            name, separator, raw = (part.strip() for part in piece.partition("="))
            if not separator or not name or not raw:
                raise ValueError(
                    f"utility weights {_shown(text)}: expected name=value pieces, got {_shown(piece)}"
                )
            if name not in known:
                raise ValueError(
                    f"utility weights {_shown(text)}: unknown name {_shown(name)}; known: {', '.join(known)}"
                )
            if name in values:
                raise ValueError(f"utility weights {_shown(text)}: {name!r} given twice")
            try:
                number = float(raw)
            except ValueError:
                raise ValueError(
                    f"utility weights {_shown(text)}: {name}={_shown(raw)} is not a number"
                ) from None
            values[name] = bounded_weight(name, number)
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        """``{"creator": ..., "merchant": ..., "ad": ...}``."""
        return dataclasses.asdict(self)


def bounded_weight(name: str, value: float) -> float:
    """``value`` when a caller may ask for it as weight ``name``: finite, from 0 to MAX_WEIGHT."""
    if not (math.isfinite(value) and 0 <= value <= MAX_WEIGHT):
        raise ValueError(f"utility weight {name}={value!r} must be a finite number from 0 to {MAX_WEIGHT:g}")
    return value


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut after SHOWN_CHARACTERS."""
    return repr(text if len(text) <= SHOWN_CHARACTERS else f"{text[:SHOWN_CHARACTERS]}...")


def stakeholder_utilities(
    heads: dict[str, np.ndarray],
    *,
    is_ad: np.ndarray,
    is_shopping: np.ndarray,
    creator_pin_count: np.ndarray,
    pin_age_days: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-candidate utilities ``pinner``, ``creator``, ``merchant``, ``ad`` (see module doc).

    ``heads`` maps at least click, save, long_click and hide to probability vectors.
    """
    missing = sorted(set(PINNER_ACTION_VALUES) - set(heads))
    if missing:
        raise KeyError(f"stakeholder_utilities needs head probabilities for {missing}")
    probs = {name: np.asarray(heads[name], dtype=np.float64) for name in PINNER_ACTION_VALUES}
    pinner = sum(value * probs[name] for name, value in PINNER_ACTION_VALUES.items())
    click = probs["click"]
    pin_count = np.maximum(np.asarray(creator_pin_count, dtype=np.float64), 0.0)
    age = np.maximum(np.asarray(pin_age_days, dtype=np.float64), 0.0)
    size_boost = 1.0 / np.log2(2.0 + pin_count)
    freshness = 1.0 + np.exp(-age / FRESHNESS_DAYS)
    utilities = {
        "pinner": pinner,
        "creator": (probs["save"] + click) * size_boost * freshness,
        "merchant": np.where(np.asarray(is_shopping, dtype=bool), click, 0.0),
        "ad": np.where(np.asarray(is_ad, dtype=bool), click, 0.0),
    }
    shapes = {name: values.shape for name, values in utilities.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"inputs differ in length: {shapes}")
    return utilities


def blend(utilities: dict[str, np.ndarray], weights: UtilityWeights) -> np.ndarray:
    """score = pinner + w_creator * creator + w_merchant * merchant + w_ad * ad."""
    score = np.asarray(utilities["pinner"], dtype=np.float64).copy()
    for name, weight in weights.as_dict().items():
        score += weight * np.asarray(utilities[name], dtype=np.float64)
    return score
