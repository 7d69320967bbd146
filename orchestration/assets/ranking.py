"""The multi-task ranker, trained on logged impressions with point-in-time features.

Every input is as of the impression: engagement features come from the feature store's offline
files by Feast's point-in-time rule (``features.store.historical_features``); the user/pin
vectors, the user's category interests and the user side of every learned similarity from the
events before the training window; the PinSAGE pin side from a copy trained on those events only
(``models.ranker_representations``: the serving PinSAGE has seen the labels, so it would leak them).
"""

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from features.ranking_columns import PIN_CATEGORICAL, PIN_NUMERIC, USER_CATEGORICAL, USER_NUMERIC
from features.store import feature_defaults, fill_missing_features, historical_features
from models.co_engagement import CoEngagementModel
from models.ranker import save_ranker
from models.ranker_config import ACTIONS
from models.ranker_representations import learned_tables_before
from models.ranker_similarities import VectorTable, impression_similarities
from models.ranker_training import FeatureColumns, SimilarityFeatures, fit_ranker, history_signals
from models.sampled_negatives import NegativeSampling, with_sampled_negatives
from models.served.text_tower import load_text_index
from models.text_pin_vectors import text_vectors_of
from models.text_tower_config import pin_texts
from orchestration.assets import RANKER, pinsage
from orchestration.assets.embeddings import pin_vector_index
from orchestration.assets.engagements import engagement_world, epoch_logger, serving_visuals
from orchestration.assets.features import online_features
from orchestration.assets.text import TEXT_KIND, pin_text_index
from orchestration.assets.visual import pin_visual_embeddings
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource
from orchestration.training_metadata import training_metadata
from sql.events import event_span, labelled_impressions

RANKER_KIND = "ranker"
TRAINING_ROWS = 300_000
COLUMNS = FeatureColumns(USER_NUMERIC, USER_CATEGORICAL, PIN_NUMERIC, PIN_CATEGORICAL)
# The learned similarities the ranker reads: with these three, demo's click and save validation AUC
# rose by 0.002 over 6 seeds (paired); the two-tower's cosine beside them raised none (design.md).
SIMILARITIES = ("pinsage", "text", "visual")
NEGATIVES_SEED = 0
# The PinSAGE copy's epoch cap. Its holdout recall@10 still rises at 30 epochs, but the ranker's
# validation AUC does not follow it (demo, seed 0, click / save: 0.7478 / 0.7721 at 10 epochs,
# 0.7485 / 0.7727 at 15, 0.7478 / 0.7719 at 30), and the copy was most of the ranker step's time.
# Not fewer: at 4 epochs the AUC held on demo, but ML-100K's served page fell from recall@10 / ndcg@10
# 0.1410 / 0.0698 to 0.1357 / 0.0672, under PinSAGE alone's 0.0675 (docs/performance.md).
COPY_PINSAGE = dataclasses.replace(pinsage.ASSET_CONFIG, epochs=10)


@dataclass(frozen=True)
class RankerTrainingData:
    """Labelled impressions with their features as of each one, and the history signals before them."""

    frame: pd.DataFrame
    vectors: CoEngagementModel
    interest: np.ndarray
    similarities: SimilarityFeatures
    retrained_metrics: dict[str, dict[str, float]]
    negatives: NegativeSampling


def content_tables(database: Database, run_id: str, pins: pd.DataFrame) -> dict[str, VectorTable]:
    """The text and visual vectors of every pin that the run ``run_id`` serves with its ranker:
    content alone, never an engagement label."""
    tables = {}
    text = database.version_for_run(TEXT_KIND, run_id)
    if text is not None:
        tower, stored = load_text_index(Path(text.artifact))
        pin_ids, texts = pins["pin_id"].to_numpy(), pins.set_index("pin_id")
        tables["text"] = VectorTable(
            pin_ids, text_vectors_of(pin_ids, stored, lambda missing: tower.embed(pin_texts(texts.loc[missing])))
        )
    visual = serving_visuals(database, run_id)
    if visual is not None:
        tables["visual"] = VectorTable(visual.pin_ids, visual.vectors)
    return tables


def ranker_training_data(
    context: AssetExecutionContext, database: Database, feature_store: FeatureStoreResource
) -> RankerTrainingData:
    """The later half of the log's impressions, labelled and joined with features as of each one;
    negatives sampled where the log holds too few unengaged impressions (``models.sampled_negatives``);
    vectors fit on the earlier half; each row's interest of its user in the pin's category, and its
    learned similarities from pin vectors of the earlier half, against its user's engagements before
    the impression."""
    with database.engine().connect() as conn:
        span = event_span(conn)
        if span is None:
            raise RuntimeError("no events to train the ranker on; materialize raw_events first")
        first, last = span
        since = last - timedelta(days=max((last - first).days // 2, 0))
        impressions = labelled_impressions(conn, since=since, limit=TRAINING_ROWS)
    world = engagement_world(database)
    pins = world.pins.sort_values("pin_id", ignore_index=True)
    user_ids = np.sort(world.users["user_id"].to_numpy())
    start = pd.Timestamp(since, tz="UTC")
    negatives = with_sampled_negatives(
        impressions, world.events, pins["pin_id"].to_numpy(), actions=ACTIONS, seed=NEGATIVES_SEED
    )
    impressions = negatives.impressions
    vectors, interest = history_signals(world.events, impressions, since=start, user_ids=user_ids, pins=pins)
    learned = learned_tables_before(
        world,
        start,
        SIMILARITIES,
        pinsage=COPY_PINSAGE,
        content=content_tables(database, context.run.run_id, pins),
        visual=serving_visuals(database, context.run.run_id),
        on_epoch=epoch_logger(context, f"copy before {since}: "),
    )
    similarities = SimilarityFeatures(
        SIMILARITIES, impression_similarities(SIMILARITIES, impressions, world.events, learned.pins)
    )
    joined = historical_features(feature_store.store(), impressions)
    frame = fill_missing_features(joined, feature_defaults(feature_store.settings()))
    return RankerTrainingData(frame, vectors, interest, similarities, learned.metrics, negatives)


class RankerTrainingConfig(Config):
    seed: int = Field(
        default=0,
        description="Initialization, shuffling and dropout of the ranker's training; the page's quality moves with "
        "it (docs/design.md, \"Ranker training data\"), so compare rankers over several.",
    )


@asset(
    group_name="ranking",
    # Not pinsage_embeddings: the ranker trains a PinSAGE copy of its own (the module's docstring),
    # so the two train at once where two steps run at a time.
    deps=[pin_vector_index, online_features, pin_text_index, pin_visual_embeddings],
    op_tags=RANKER,
    description="One network, one head per action; compared per head with an engagement-rate baseline.",
)
def ranker(
    context: AssetExecutionContext,
    config: RankerTrainingConfig,
    database: Database,
    feature_store: FeatureStoreResource,
    artifacts: ArtifactStore,
) -> MaterializeResult:
    data = ranker_training_data(context, database, feature_store)
    fit = fit_ranker(
        data.frame,
        data.vectors,
        data.interest,
        columns=COLUMNS,
        similarities=data.similarities,
        seed=config.seed,
        on_epoch=lambda epoch, loss: context.log.info(f"epoch {epoch}: loss {loss:.4f}"),
    )
    path = artifacts.new_path(RANKER_KIND, ".safetensors")
    save_ranker(path, fit.model, fit.encoder)
    published = artifacts.publish(RANKER_KIND, path, {"valid_auc": fit.report.valid_auc}, run_id=context.run.run_id)
    context.log.info(f"ranker v{published.version}: validation AUC {fit.report.valid_auc}")
    return MaterializeResult(
        metadata={
            **published.metadata(),
            **training_metadata(fit.report.history, "ranker"),
            "seed": config.seed,
            "training_rows": fit.report.n_train,
            "validation_rows": fit.report.n_valid,
            "first_training_day": str(data.frame["event_timestamp"].min().date()),
            "per_head": MetadataValue.md(fit.quality.to_markdown(index=False)),
            "similarity_means": MetadataValue.json(data.similarities.means()),
            "retrained_holdout": MetadataValue.json(data.retrained_metrics),
            "sampled_negatives": data.negatives.sampled,
            "sampled_negatives_reason": data.negatives.reason,
        }
    )
