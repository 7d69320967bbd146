"""PinSAGE pin vectors as a source of their own: trained on the world's engagements and pin-board
graph, published as a new pgvector HNSW partition of kind ``pinsage``."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from models.embedding_width import check_embedding_width
from models.pinsage import PinSageConfig
from models.pinsage.world_training import train_on_world
from orchestration.assets.engagements import engagement_world, epoch_logger, holdout_summary, serving_visuals
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.visual import pin_visual_embeddings
from orchestration.resources import ArtifactStore, Database, IdVectors
from orchestration.training_metadata import training_metadata

PINSAGE_KIND = "pinsage"
# Cheaper than the ML-100K defaults, for catalogues of 50k pins on 2 cores: one convolution (two
# reach most of the catalogue from a batch's pins) and fewer walks per pin; about 12 CPU seconds an
# epoch on demo, on one torch thread. Validation recall@10 still rose slowly at demo's epoch 8.
ASSET_CONFIG = PinSageConfig(layers=1, walks=30, epochs=30, patience=3)


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events, pin_board_graph, pin_visual_embeddings],
    description="PinSAGE over pin text, category, engagement count and visual vectors with importance "
    "neighbours on boards and histories; every pin's vector in a pgvector HNSW partition.",
)
def pinsage_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    check_embedding_width(PINSAGE_KIND, ASSET_CONFIG.dim)
    fit = train_on_world(
        engagement_world(database),
        ASSET_CONFIG,
        visual=serving_visuals(database, context.run_id),
        on_epoch=epoch_logger(context),
    )
    recommender, split, metrics = fit.recommender, fit.split, fit.metrics
    path = artifacts.new_path(PINSAGE_KIND, ".safetensors")
    recommender.save(path)
    published = artifacts.publish(
        PINSAGE_KIND,
        path,
        metrics,
        run_id=context.run_id,
        pin_vectors=IdVectors(split.item_ids, recommender.item_vectors),
    )
    context.log.info(
        f"pinsage v{published.version}: trained on {split.n_users} users, {published.pins} pins indexed; "
        + holdout_summary(metrics)
    )
    return MaterializeResult(
        metadata={**training_metadata(recommender.history, "PinSAGE", metrics), **published.metadata()}
    )
