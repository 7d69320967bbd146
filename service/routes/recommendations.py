"""The three surfaces: home feed, related pins and search; the same weights and page ending behind all of them."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from service.dependencies import AUTH_RESPONSES, ReadDep, ServingStateDep
from service.page_log import PageAnswerDep
from service.schemas import PagePublic
from service.surfaces.home_feed import home_feed
from service.surfaces.related_pins import UnknownPinError, related_pins
from service.surfaces.search import search
from service.weights_query import WeightsText, parse_weights

router = APIRouter(prefix="/v1", tags=["recommendations"])

IdPath = Annotated[int, Path(ge=0, le=2**63 - 1)]
PageSize = Annotated[int, Query(ge=1, le=500, description="How many pins to return.")]
OptionalUser = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Personalize for this user.")]


@router.get("/users/{user_id}/recommendations", response_model=PagePublic, responses=AUTH_RESPONSES)
def user_recommendations(
    _: ReadDep,
    state: ServingStateDep,
    answer: PageAnswerDep,
    user_id: IdPath,
    k: PageSize = 10,
    weights: WeightsText = None,
) -> Response:
    """The user's home feed: retrieval, co-engagement and Pixie candidates, ranked and blended."""
    return answer(home_feed(state, user_id=user_id, k=k, weights=parse_weights(weights)))


@router.get(
    "/pins/{pin_id}/related",
    response_model=PagePublic,
    responses={**AUTH_RESPONSES, 404: {"description": "Unknown pin"}},
)
def pin_related(
    _: ReadDep,
    state: ServingStateDep,
    answer: PageAnswerDep,
    pin_id: IdPath,
    k: PageSize = 10,
    weights: WeightsText = None,
    user_id: OptionalUser = None,
) -> Response:
    """Pins related to a pin: nearest vectors, co-engaged pins and Pixie walks from it."""
    try:
        return answer(related_pins(state, pin_id=pin_id, k=k, weights=parse_weights(weights), user_id=user_id))
    except UnknownPinError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error


@router.get("/search", response_model=PagePublic, responses=AUTH_RESPONSES)
def search_pins(
    _: ReadDep,
    state: ServingStateDep,
    answer: PageAnswerDep,
    q: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"\S",  # not blank
            description="Any text with a non-space character; unseen words still match by their letters.",
        ),
    ],
    k: PageSize = 10,
    weights: WeightsText = None,
    user_id: OptionalUser = None,
) -> Response:
    """Pins matching a query: the query tower's vector against the pins' text index, then ranked."""
    return answer(search(state, query=q, k=k, weights=parse_weights(weights), user_id=user_id))
