"""Serving utility weights and experiment arms: read with the read scope, changed with the admin scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine

from sql.migrate import migrated_engine
from models.utility import MAX_WEIGHT, UtilityWeights
from service.dependencies import AUTH_RESPONSES, AdminDep, KeyCheckedFirst, ReadDep, ServingStateDep, SettingsDep
from sql.utility_weights import (
    DEFAULT_WEIGHTS,
    TrafficExceededError,
    default_weights,
    delete_arm,
    list_arms,
    put_arm,
    put_weights,
)

router = APIRouter(prefix="/v1/utility-weights", tags=["utility-weights"], route_class=KeyCheckedFirst)

def get_database(settings: SettingsDep) -> Engine:
    """The engine of the configured database (one pool per URL)."""
    return migrated_engine(settings)


EngineDep = Annotated[Engine, Depends(get_database)]
# FastAPI answers 400 itself to a body that is not text (invalid UTF-8), before validation.
BODY_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "The body cannot be parsed."},
    413: {"description": "The body is over CORKBOARD_MAX_BODY_BYTES."},
}
ArmName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="e.g. creator-boost")]


class UtilityWeightsUpdate(BaseModel):
    """A full weight set; the pinner's weight is fixed at 1."""

    # strict: numbers only, as the schema says (not false for 0, nor "1" for 1)
    model_config = ConfigDict(extra="forbid", strict=True)

    creator: float = Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)
    merchant: float = Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)
    ad: float = Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)

    def to_weights(self) -> UtilityWeights:
        return UtilityWeights(**self.model_dump())


class ArmUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    weights: UtilityWeightsUpdate
    traffic: float = Field(ge=0, le=1, description="Share of users served this arm's weights.")


class ArmPublic(BaseModel):
    name: str
    weights: dict[str, float]
    traffic: float


class UtilityWeightsPublic(BaseModel):
    default: dict[str, float] = Field(description="Weights of users outside every arm.")
    arms: list[ArmPublic]


def _current(conn: Connection) -> UtilityWeightsPublic:
    arms = [ArmPublic(name=arm.name, weights=arm.weights.as_dict(), traffic=arm.traffic) for arm in list_arms(conn)]
    return UtilityWeightsPublic(default=default_weights(conn).as_dict(), arms=arms)


@router.get(
    "",
    response_model=UtilityWeightsPublic,
    responses={**AUTH_RESPONSES, 503: {"description": "Not ready, or the database unavailable."}},
)
def read_utility_weights(_: ReadDep, state: ServingStateDep) -> UtilityWeightsPublic:
    """The default weights and the experiment arms being served (read as pages read them: under
    the database deadline, and refused at once during the pause after an outage)."""
    return state.database.read(_current)


@router.put("", response_model=UtilityWeightsPublic, responses={**AUTH_RESPONSES, **BODY_RESPONSES})
def update_default_weights(_: AdminDep, engine: EngineDep, body: UtilityWeightsUpdate) -> UtilityWeightsPublic:
    """Replace the default weights."""
    with engine.begin() as conn:
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=body.to_weights())
        return _current(conn)


@router.put(
    "/arms/{arm}",
    response_model=UtilityWeightsPublic,
    responses={**AUTH_RESPONSES, **BODY_RESPONSES, 409: {"description": "Arms' traffic above 1."}},
)
def update_arm(_: AdminDep, engine: EngineDep, arm: ArmName, body: ArmUpdate) -> UtilityWeightsPublic:
    """Create or replace an experiment arm; all arms' traffic must sum to at most 1."""
    try:
        with engine.begin() as conn:
            put_arm(conn, name=arm, weights=body.weights.to_weights(), traffic=body.traffic)
            return _current(conn)
    except TrafficExceededError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error


@router.delete(
    "/arms/{arm}",
    status_code=204,
    responses={**AUTH_RESPONSES, 404: {"description": "No such arm."}},
)
def end_arm(_: AdminDep, engine: EngineDep, arm: ArmName) -> Response:
    """End an experiment arm: its users go back to the default weights."""
    with engine.begin() as conn:
        if not delete_arm(conn, name=arm):
            raise HTTPException(status_code=404, detail=f"no experiment arm {arm!r}")
    return Response(status_code=204)
