"""PinSAGE pin vectors as a source of their own: trained on the world's engagements and pin-board
graph, published as a new pgvector HNSW partition of kind ``pinsage``."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from models.pinsage import PinSageConfig
from models.pinsage.world_training import train_on_world
from orchestration.assets import PINSAGE_PATH
from orchestration.assets.engagements import holdout_summary, train_and_publish
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.visual import pin_visual_embeddings
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata

PINSAGE_KIND = "pinsage"
# Cheaper than the ML-100K defaults, for catalogues of 50k pins on 2 cores: one convolution (two
# reach most of the catalogue from a batch's pins) and fewer walks per pin; about 12 CPU seconds an
# epoch on demo, on one torch thread. Validation recall@10 rises slowly to epoch 30 with dips of up
# to 3 epochs on the way: patience 3 stopped demo at epoch 11 or 18 (holdout recall@10 0.027,
# 0.031) where 4 or more went on to 0.034 (docs/performance.md, "Cheaper PinSAGE steps").
ASSET_CONFIG = PinSageConfig(layers=1, walks=30, epochs=30, patience=5)


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events, pin_board_graph, pin_visual_embeddings],
    op_tags=PINSAGE_PATH,
    description="PinSAGE over pin text, category, engagement count and visual vectors with importance "
    "neighbours on boards and histories; every pin's vector in a pgvector HNSW partition.",
)
def pinsage_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore, ray: RayCluster
) -> MaterializeResult:
    fit, published = train_and_publish(context, database, artifacts, ray, PINSAGE_KIND, ASSET_CONFIG, train_on_world)
    recommender, split, metrics = fit.recommender, fit.split, fit.metrics
    context.log.info(
        f"pinsage v{published.version}: trained on {split.n_users} users, {published.pins} pins indexed; "
        + holdout_summary(metrics)
    )
    return MaterializeResult(
        metadata={**training_metadata(recommender.history, "PinSAGE", metrics), **published.metadata()}
    )
