"""Request and response bodies of the REST API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendedPin(BaseModel):
    pin_id: int
    score: float = Field(description="Blended utility: pinner + weighted creator, merchant and ad utilities.")
    sources: list[str] = Field(description="Candidate generators that proposed this pin.")
    heads: dict[str, float] = Field(description="Ranker probability per action.")
    utility: dict[str, float] = Field(description="Utility per stakeholder.")


class RecommendationPublic(BaseModel):
    user_id: int
    items: list[RecommendedPin]
    fallback: str | None = Field(None, description="Why the answer is not personalized, e.g. cold_start.")
    weights: dict[str, float]
    model_versions: dict[str, int]


class Readiness(BaseModel):
    ready: bool
    detail: str
    model_versions: dict[str, int] = {}
