"""Request and response bodies of the REST API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendedPin(BaseModel):
    pin_id: int
    score: float = Field(description="Blended utility: pinner + weighted creator, merchant and ad utilities.")
    sources: list[str] = Field(description="Candidate generators that proposed this pin.")
    heads: dict[str, float] = Field(description="Ranker probability per action.")
    utility: dict[str, float] = Field(description="Utility per stakeholder.")
    explanation: str = Field(description="Why this pin is on the page, in one sentence.")


class FeatureDefaultsPublic(BaseModel):
    """What was ranked on default features because its online features were missing."""

    user: list[str] = Field(default_factory=list, description="The user's feature views missing online.")
    pin_ids: list[int] = Field(default_factory=list, description="Pins on the page with a feature view missing online.")


class PagePublic(BaseModel):
    surface: str = Field(description="homefeed, related or search.")
    user_id: int | None = None
    pin_id: int | None = Field(None, description="The pin whose related pins these are.")
    query: str | None = None
    items: list[RecommendedPin]
    fallback: str | None = Field(None, description="Why the answer is not fully personalized, e.g. cold_start.")
    degraded_sources: list[str] = Field(
        default_factory=list,
        description="Steps that failed or timed out and were skipped: candidate sources, user_history, utility_weights.",
    )
    feature_defaults: FeatureDefaultsPublic = Field(default_factory=FeatureDefaultsPublic)
    weights: dict[str, float]
    arm: str | None = Field(None, description="Experiment arm whose weights were used.")
    model_versions: dict[str, int]
    request_id: str | None = Field(
        None, description="This answer's X-Request-ID: send it back with the page's events (POST /v1/events)."
    )


class Readiness(BaseModel):
    ready: bool
    detail: str
    model_versions: dict[str, int] = {}
    checks: dict[str, str] = Field(
        default_factory=dict,
        description='Each dependency\'s state, e.g. {"models": "loaded", "database": "unreachable"} '
        "(with the driver's message for admin keys).",
    )
