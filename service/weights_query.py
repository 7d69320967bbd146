"""The ``?weights=`` query parameter of every surface: its exact shape, declared as a pattern in
the OpenAPI document, and its parsing (422 in FastAPI's own shape for anything else)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import WithJsonSchema

from models.utility import MAX_WEIGHT
from service.served_weights import WEIGHT_NAMES, WeightsOverride

# A plain decimal from 0 to MAX_WEIGHT (a power of ten): 0 to 99.999..., 100, 100.0, and -0 (which is 0)
_MAX = f"{MAX_WEIGHT:g}"
NUMBER = rf"(?:[0-9]{{1,{len(_MAX) - 1}}}(?:\.[0-9]+)?|{_MAX}(?:\.0+)?|-0(?:\.0+)?)"


def _each_at_most_once(names: frozenset[str]) -> str:
    """``name=NUMBER`` pieces joined by commas: one or more of ``names``, each at most once, in any order."""
    pieces = []
    for name in sorted(names):
        rest = names - {name}
        pieces.append(f"{name}={NUMBER}" + (f"(?:,{_each_at_most_once(rest)})?" if rest else ""))
    return f"(?:{'|'.join(pieces)})"


WEIGHTS_PATTERN = f"^{_each_at_most_once(WEIGHT_NAMES)}$"
_WEIGHTS = re.compile(WEIGHTS_PATTERN)
SHAPE = (
    f"name=value pieces joined by commas, without spaces: each of {', '.join(sorted(WEIGHT_NAMES))} "
    f"at most once, values plain decimals from 0 to {_MAX}"
)

MAX_LENGTH = 200
# The pattern is declared for clients and schema-driven tools, and checked by parse_weights, whose
# messages say what is wrong (FastAPI's own check would answer with the whole pattern).
WeightsText = Annotated[
    Annotated[str, WithJsonSchema({"type": "string", "maxLength": MAX_LENGTH, "pattern": WEIGHTS_PATTERN})] | None,
    Query(
        max_length=MAX_LENGTH,
        description="Utility weights instead of the stored default ones, e.g. creator=1.5,ad=0 (each from 0 to 100); "
        "those not named stay as stored. Without them, the user's experiment arm or the stored default weights apply.",
    ),
]


def parse_weights(text: str | None) -> WeightsOverride | None:
    """The weights ``creator=1.5,ad=0`` names, None without any; 422 for text outside WEIGHTS_PATTERN."""
    if text is None:
        return None
    try:
        weights = WeightsOverride.parse(text)
    except ValueError as error:
        raise _invalid(text, str(error)) from error
    if not _WEIGHTS.fullmatch(text):  # parsed, but in a form the document does not promise
        raise _invalid(text, f"utility weights: expected {SHAPE}")
    return weights


def _invalid(text: str, message: str) -> RequestValidationError:
    """Shaped like FastAPI's own 422 (the documented body), so clients parse one error format;
    the 422 handler cuts the echoed input short."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", "weights"), "msg": message, "input": text}])
