"""Experiments that learn: each arm's measured outcomes, and utility weights proposed from the
logged pages. Applying a proposal stays a deliberate act (``PUT /v1/utility-weights`` or
``corkboard tune --apply``)."""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from models.experiment_outcomes import arm_outcomes, outcomes_figure, outcomes_markdown
from models.logged_tuning import tune_logged
from models.utility_tuner import Thresholds
from orchestration.assets.ingest import raw_events
from orchestration.resources import Database
from orchestration.training_metadata import figure_png, plot_markdown
from service.request_log import log_requests
from service.state_loading import open_serving_state
from sql.catalogue import user_ids
from sql.experiment_log import arm_names, logged_home_feed_users, page_engagements, page_impressions

OUTCOMES_TITLE = "experiment arms: outcomes"
TRADEOFF_TITLE = "utility weights: trade-off"


class OutcomesConfig(Config):
    days: int = Field(default=28, ge=1, description="Pages served within this many days are measured.")
    resamples: int = Field(default=2_000, ge=100, description="Bootstrap resamples of users per interval.")


@asset(
    group_name="experiments",
    deps=[raw_events],
    description="Each experiment arm's click, save and hide rate per impression and pinner, creator, merchant and "
    "ad utility per page, from the logged page impressions joined to the engagements posted for them, with 95% "
    "bootstrap intervals over users (models/experiment_outcomes.py).",
)
def experiment_outcomes(
    context: AssetExecutionContext, config: OutcomesConfig, database: Database
) -> MaterializeResult:
    with database.engine().connect() as conn:
        impressions = page_impressions(conn, days=config.days)
        engagements = page_engagements(conn, days=config.days)
        arms = arm_names(conn)
    pins = database.read_table("pins", ("pin_id", "creator_id", "is_ad", "merchant_id", "created_at"))
    table = arm_outcomes(impressions, engagements, pins, arms=arms, resamples=config.resamples)
    context.log.info(f"{len(impressions)} impressions, {len(engagements)} posted engagements, {len(table)} arms")
    return MaterializeResult(
        metadata={
            "outcomes": MetadataValue.md(outcomes_markdown(table)),
            "outcomes_plot": plot_markdown(figure_png(outcomes_figure(table)), OUTCOMES_TITLE),
            "impressions": len(impressions),
            "posted_engagements": len(engagements),
            "arms": len(table),
        }
    )


class TuningConfig(Config):
    min_creator: float = Field(default=0.0, ge=0, description="Minimum creator utility per page.")
    min_merchant: float = Field(default=0.0, ge=0, description="Minimum merchant utility per page.")
    min_ad: float = Field(default=0.0, ge=0, description="Minimum ad utility per page.")
    relative: bool = Field(default=False, description="Minimums are multiples of the pinner-only page's utilities.")
    k: int = Field(default=10, ge=1, description="Page size.")
    users: int = Field(default=300, ge=2, description="At most this many users' home feeds are replayed.")
    days: int = Field(default=28, ge=1, description="Users served a home feed within this many days are replayed.")
    holdout: float = Field(default=0.3, gt=0, lt=1, description="Share of requests held out to check the choice.")
    seed: int = 0


@asset(
    group_name="experiments",
    deps=[raw_events],
    description="Utility weights proposed from the logged pages: the home feeds of the users served one lately "
    "(else the most active users) replayed through the serving candidates and ranker, each page filled as the "
    "service fills it, the weights with the most pinner utility whose creator, merchant and ad utility meet the "
    "configured minimums. Not applied: PUT /v1/utility-weights or `corkboard tune --apply` does that.",
)
def utility_tuning(context: AssetExecutionContext, config: TuningConfig, database: Database) -> MaterializeResult:
    settings = database.settings()
    state = open_serving_state(settings)
    with state.engine.connect() as conn:
        users = logged_home_feed_users(conn, days=config.days, limit=config.users)
        users_from = "logged home feeds" if len(users) >= 2 else "most active users (too few home feeds logged)"
        if len(users) < 2:
            users = user_ids(conn, limit=config.users)
    thresholds = Thresholds(
        creator=config.min_creator, merchant=config.min_merchant, ad=config.min_ad, relative=config.relative
    )
    summary = tune_logged(
        log_requests(state, users=users), thresholds=thresholds, k=config.k,
        max_per_creator=settings.max_pins_per_creator, out_dir=settings.data_dir / "tuning" / "asset",
        holdout_fraction=config.holdout, seed=config.seed,
    )
    context.log.info(f"{len(users)} users from {users_from}: {summary['reason']}")
    with open(summary["paths"]["tradeoff_png"], "rb") as png:
        plot = plot_markdown(png.read(), TRADEOFF_TITLE)
    return MaterializeResult(
        metadata={
            "proposed": MetadataValue.json(summary["chosen"]),
            "reason": MetadataValue.text(summary["reason"]),
            "minimums": MetadataValue.json(summary["minimums"]),
            "tuning_utilities": MetadataValue.json(summary["tuning"]),
            "held_out": MetadataValue.json(summary["held_out"]),
            "users": len(users),
            "users_from": users_from,
            "feasible": summary["feasible"],
            "grid_points": summary["grid_points"],
            "tradeoff_plot": plot,
            "tradeoff_csv": MetadataValue.path(summary["paths"]["tradeoff_csv"]),
        }
    )
