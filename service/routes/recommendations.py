"""Home feed recommendations."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from models.utility import UtilityWeights
from service.dependencies import ServingStateDep
from service.pipeline import recommend
from service.schemas import RecommendationPublic

router = APIRouter(prefix="/v1/users", tags=["recommendations"])


def parse_weights(text: str | None) -> UtilityWeights:
    """Default weights, overridden by ``creator=1.5,ad=0``; 422 on malformed text."""
    if text is None:
        return UtilityWeights()
    try:
        return UtilityWeights.parse(text)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error


@router.get("/{user_id}/recommendations", response_model=RecommendationPublic)
def user_recommendations(
    state: ServingStateDep,
    user_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    k: Annotated[int, Query(ge=1, le=500, description="How many pins to return.")] = 10,
    weights: Annotated[str | None, Query(description="Utility weight overrides, e.g. creator=1.5,ad=0")] = None,
) -> RecommendationPublic:
    """The user's home feed: retrieval and co-engagement candidates, ranked and blended."""
    return recommend(state, user_id=user_id, k=k, weights=parse_weights(weights))
