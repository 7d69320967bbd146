"""The first multi-task ranker, trained on logged impressions with point-in-time Feast features."""


import uuid

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from corkboard.settings import get_settings
from features.ranking_columns import PIN_CATEGORICAL, PIN_NUMERIC, USER_CATEGORICAL, USER_NUMERIC
from features.store import feature_defaults, fill_missing_features, historical_features
from models.embedding_store import EmbeddingArtifact
from models.metrics import auc
from models.ranker import ACTIONS, RankerConfig, save_ranker, train_ranker
from models.ranker_features import FeatureEncoder
from orchestration.assets.embeddings import EMBEDDING_KIND, pin_vector_index
from orchestration.assets.features import online_features
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource
from sql.events import labelled_impressions
from sql.versions import activate_version, active_version, register_version

RANKER_KIND = "ranker"
TRAINING_DAYS = 14
TRAINING_ROWS = 300_000


def ranker_training_frame(database: Database, feature_store: FeatureStoreResource) -> pd.DataFrame:
    """Recent impressions with their action labels and the features known at impression time."""
    with database.engine().connect() as conn:
        impressions = labelled_impressions(conn, days=TRAINING_DAYS, limit=TRAINING_ROWS)
    if impressions.empty:
        raise RuntimeError("no impressions to train the ranker on; materialize raw_events first")
    joined = historical_features(feature_store.store(), impressions)
    return fill_missing_features(joined, feature_defaults(get_settings()))


@asset(
    group_name="ranking",
    deps=[pin_vector_index, online_features],
    description="One network, one head per action; compared per head with an engagement-rate baseline.",
)
def ranker(
    context: AssetExecutionContext, database: Database, feature_store: FeatureStoreResource, artifacts: ArtifactStore
) -> MaterializeResult:
    frame = ranker_training_frame(database, feature_store)
    with database.engine().connect() as conn:
        embedding = active_version(conn, kind=EMBEDDING_KIND)
    if embedding is None:
        raise RuntimeError("no serving pin embedding; materialize pin_vector_index first")
    vectors = EmbeddingArtifact.load(embedding.artifact)
    encoder = FeatureEncoder.fit(
        frame,
        user_numeric=USER_NUMERIC,
        user_categorical=USER_CATEGORICAL,
        pin_numeric=PIN_NUMERIC,
        pin_categorical=PIN_CATEGORICAL,
        vector_dim=vectors.model.pin_vectors.shape[1],
    )
    features = encoder.encode(
        frame,
        vectors.user_vectors_for(frame["user_id"].to_numpy()),
        vectors.pin_vectors_for(frame["pin_id"].to_numpy()),
        frame["position"].fillna(0).to_numpy(),
    )
    labels = frame[list(ACTIONS)].to_numpy(dtype=np.float32)
    config = RankerConfig(input_dim=encoder.input_dim)
    model, report = train_ranker(
        features, labels, config, on_epoch=lambda epoch, loss: context.log.info(f"epoch {epoch}: loss {loss:.4f}")
    )
    quality = _quality_table(frame, labels, model.predict(features), report.valid_auc)
    path = artifacts.path_for(RANKER_KIND, f"{uuid.uuid4().hex}.pt")
    save_ranker(path, model, encoder)
    metrics = {"valid_auc": report.valid_auc, "embedding_version": embedding.version}
    with database.engine().begin() as conn:
        version = register_version(conn, kind=RANKER_KIND, artifact=str(path), metrics=metrics)
        activate_version(conn, kind=RANKER_KIND, version=version)
    return MaterializeResult(
        metadata={
            "version": version,
            "path": MetadataValue.path(str(path)),
            "training_rows": report.n_train,
            "validation_rows": report.n_valid,
            "train_loss_per_epoch": MetadataValue.json([round(x, 4) for x in report.train_loss]),
            "per_head": MetadataValue.md(quality.to_markdown(index=False)),
        }
    )


def _quality_table(
    frame: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, valid_auc: dict[str, float]
) -> pd.DataFrame:
    """Per head: positive rate, validation AUC, and the AUC of the pin's own 30-day rate alone."""
    rows = []
    for column, action in enumerate(ACTIONS):
        baseline = frame[f"pin_engagement__{action}_rate_30d"].to_numpy(dtype=np.float64)
        rows.append(
            {
                "head": action,
                "positive_rate": float(labels[:, column].mean()),
                "mean_prediction": float(probs[:, column].mean()),
                "ranker_valid_auc": round(valid_auc.get(action, float("nan")), 4),
                "engagement_rate_auc": round(auc(labels[:, column], baseline), 4),
            }
        )
    return pd.DataFrame(rows)
