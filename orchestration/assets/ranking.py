"""The first multi-task ranker, trained on logged impressions with point-in-time features.

Every input is as of the impression: engagement features come from Feast's
``get_historical_features``; the user/pin vectors and the user's category interests from the
events before the training window (the serving embedding has seen the labels, so it would
leak them).
"""

from datetime import timedelta

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from features.ranking_columns import PIN_CATEGORICAL, PIN_NUMERIC, USER_CATEGORICAL, USER_NUMERIC
from features.store import feature_defaults, fill_missing_features, historical_features
from models.actions import POSITIVE_ACTIONS
from models.co_engagement import CoEngagementModel
from models.ranker import save_ranker
from models.ranker_training import FeatureColumns, fit_ranker, history_signals
from orchestration.assets.embeddings import pin_vector_index
from orchestration.assets.features import online_features
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource
from sql.catalogue import read_table
from sql.events import event_span, labelled_impressions, read_actions

RANKER_KIND = "ranker"
TRAINING_ROWS = 300_000
COLUMNS = FeatureColumns(USER_NUMERIC, USER_CATEGORICAL, PIN_NUMERIC, PIN_CATEGORICAL)


def ranker_training_data(
    database: Database, feature_store: FeatureStoreResource
) -> tuple[pd.DataFrame, CoEngagementModel, np.ndarray]:
    """The later half of the log's impressions, labelled and joined with features as of each one;
    vectors fit on the earlier half; each row's interest of the user in the pin's category as of
    the earlier half (the user's latest engagements then)."""
    with database.engine().connect() as conn:
        span = event_span(conn)
        if span is None:
            raise RuntimeError("no events to train the ranker on; materialize raw_events first")
        first, last = span
        since = last - timedelta(days=max((last - first).days // 2, 0))
        impressions = labelled_impressions(conn, since=since, limit=TRAINING_ROWS)
        history = read_actions(conn, actions=POSITIVE_ACTIONS)
        pins = read_table(conn, table="pins", columns=("pin_id", "category")).sort_values("pin_id")
        user_ids = np.sort(read_table(conn, table="users", columns=("user_id",))["user_id"].to_numpy())
    vectors, interest = history_signals(
        history, impressions, since=pd.Timestamp(since, tz="UTC"), user_ids=user_ids, pins=pins
    )
    joined = historical_features(feature_store.store(), impressions)
    return fill_missing_features(joined, feature_defaults(feature_store.settings())), vectors, interest


@asset(
    group_name="ranking",
    deps=[pin_vector_index, online_features],
    description="One network, one head per action; compared per head with an engagement-rate baseline.",
)
def ranker(
    context: AssetExecutionContext, database: Database, feature_store: FeatureStoreResource, artifacts: ArtifactStore
) -> MaterializeResult:
    frame, vectors, interest = ranker_training_data(database, feature_store)
    fit = fit_ranker(
        frame,
        vectors,
        interest,
        columns=COLUMNS,
        on_epoch=lambda epoch, loss: context.log.info(f"epoch {epoch}: loss {loss:.4f}"),
    )
    path = artifacts.new_path(RANKER_KIND, ".safetensors")
    save_ranker(path, fit.model, fit.encoder)
    published = artifacts.publish(RANKER_KIND, path, {"valid_auc": fit.report.valid_auc})
    context.log.info(f"ranker v{published.version}: validation AUC {fit.report.valid_auc}")
    return MaterializeResult(
        metadata={
            **published.metadata(),
            "training_rows": fit.report.n_train,
            "validation_rows": fit.report.n_valid,
            "first_training_day": str(frame["event_timestamp"].min().date()),
            "train_loss_per_epoch": MetadataValue.json([round(x, 4) for x in fit.report.train_loss]),
            "per_head": MetadataValue.md(fit.quality.to_markdown(index=False)),
        }
    )
