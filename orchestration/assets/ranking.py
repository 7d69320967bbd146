"""The first multi-task ranker, trained on logged impressions with point-in-time features.

Every input is as of the impression: engagement features come from Feast's
``get_historical_features``; the user/pin vectors and the user's category interests from the
events before the training window (the serving embedding has seen the labels, so it would
leak them).
"""

import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from core.settings import get_settings
from features.ranking_columns import PIN_CATEGORICAL, PIN_NUMERIC, USER_CATEGORICAL, USER_NUMERIC
from features.store import feature_defaults, fill_missing_features, historical_features
from models.co_engagement import CoEngagementConfig, CoEngagementModel, fit_co_engagement
from models.interests import LATEST_ENGAGEMENTS, category_codes, interest_vectors
from models.metrics import auc
from models.ranker import ACTIONS, RankerConfig, save_ranker, train_ranker
from models.ranker_features import FeatureEncoder
from orchestration.assets.embeddings import POSITIVE_ACTIONS, pin_vector_index
from orchestration.assets.features import online_features
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource
from sql.catalogue import read_table
from sql.events import event_span, labelled_impressions, read_actions
from sql.versions import activate_version, register_version

RANKER_KIND = "ranker"
TRAINING_ROWS = 300_000


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
    pin_ids = pins["pin_id"].to_numpy()
    before = history[history["ts"] < pd.Timestamp(since, tz="UTC")]
    vectors, _ = fit_co_engagement(before, user_ids, pin_ids, CoEngagementConfig())
    interest = _interest(before, impressions, user_ids, pins)
    joined = historical_features(feature_store.store(), impressions)
    return fill_missing_features(joined, feature_defaults(get_settings())), vectors, interest


def _interest(before: pd.DataFrame, impressions: pd.DataFrame, user_ids: np.ndarray, pins: pd.DataFrame) -> np.ndarray:
    vocabulary = np.unique(pins["category"].to_numpy(dtype=str))
    pin_codes = category_codes(pins["category"].to_numpy(dtype=str), vocabulary)
    latest = before.sort_values("ts").groupby("user_id").tail(LATEST_ENGAGEMENTS)
    pin_ids = pins["pin_id"].to_numpy()
    interests = interest_vectors(
        np.searchsorted(user_ids, latest["user_id"].to_numpy()),
        pin_codes[np.searchsorted(pin_ids, latest["pin_id"].to_numpy())],
        len(user_ids),
        len(vocabulary),
    )
    rows = np.searchsorted(user_ids, impressions["user_id"].to_numpy())
    return interests[rows, pin_codes[np.searchsorted(pin_ids, impressions["pin_id"].to_numpy())]]


@asset(
    group_name="ranking",
    deps=[pin_vector_index, online_features],
    description="One network, one head per action; compared per head with an engagement-rate baseline.",
)
def ranker(
    context: AssetExecutionContext, database: Database, feature_store: FeatureStoreResource, artifacts: ArtifactStore
) -> MaterializeResult:
    frame, vectors, interest = ranker_training_data(database, feature_store)
    encoder = FeatureEncoder.fit(
        frame,
        user_numeric=USER_NUMERIC,
        user_categorical=USER_CATEGORICAL,
        pin_numeric=PIN_NUMERIC,
        pin_categorical=PIN_CATEGORICAL,
        vector_dim=vectors.pin_vectors.shape[1],
    )
    features = encoder.encode(
        frame,
        vectors.user_vectors_for(frame["user_id"].to_numpy()),
        vectors.pin_vectors_for(frame["pin_id"].to_numpy()),
        frame["position"].fillna(0).to_numpy(),
        interest,
    )
    labels = frame[list(ACTIONS)].to_numpy(dtype=np.float32)
    config = RankerConfig(input_dim=encoder.input_dim)
    model, report = train_ranker(
        features, labels, config, on_epoch=lambda epoch, loss: context.log.info(f"epoch {epoch}: loss {loss:.4f}")
    )
    quality = _quality_table(frame, labels, model.predict(features), report.valid_auc)
    path = artifacts.path_for(RANKER_KIND, f"{uuid.uuid4().hex}.pt")
    save_ranker(path, model, encoder)
    with database.engine().begin() as conn:
        version = register_version(conn, kind=RANKER_KIND, artifact=str(path), metrics={"valid_auc": report.valid_auc})
        activate_version(conn, kind=RANKER_KIND, version=version)
    pruned = artifacts.prune(database.engine(), kind=RANKER_KIND)
    context.log.info(f"ranker v{version}: validation AUC {report.valid_auc}")
    return MaterializeResult(
        metadata={
            "version": version,
            "path": MetadataValue.path(str(path)),
            "training_rows": report.n_train,
            "validation_rows": report.n_valid,
            "pruned_versions": MetadataValue.json(pruned),
            "first_training_day": str(frame["event_timestamp"].min().date()),
            "train_loss_per_epoch": MetadataValue.json([round(x, 4) for x in report.train_loss]),
            "per_head": MetadataValue.md(quality.to_markdown(index=False)),
        }
    )


def _quality_table(
    frame: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, valid_auc: dict[str, float]
) -> pd.DataFrame:
    """Per head: positive rate, mean prediction, validation AUC, and the AUC of the pin's 30-day rate alone
    (the baseline is untrained, so its AUC over all rows estimates the same quantity)."""
    rows = []
    for column, action in enumerate(ACTIONS):
        baseline = frame[f"pin_engagement__{action}_rate_30d"].to_numpy(dtype=np.float64)
        rows.append(
            {
                "head": action,
                "positive_rate": round(float(labels[:, column].mean()), 4),
                "mean_prediction": round(float(probs[:, column].mean()), 4),
                "ranker_valid_auc": round(valid_auc.get(action, float("nan")), 4),
                "engagement_rate_auc": round(auc(labels[:, column], baseline), 4),
            }
        )
    return pd.DataFrame(rows)
