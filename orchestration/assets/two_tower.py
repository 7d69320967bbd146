"""Two-tower retrieval: user and pin towers trained on the world's engagements; the pin vectors
become a new pgvector HNSW partition of kind ``two_tower`` and each user's current vector is
stored beside them, all swapped in with one transaction."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from models.two_tower import TwoTowerConfig
from models.two_tower.world_training import train_on_world
from orchestration.assets import AFTER_THE_RANKER
from orchestration.assets.engagements import holdout_summary, train_and_publish
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.visual import pin_visual_embeddings
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata

TWO_TOWER_KIND = "two_tower"
# Cheaper than the ML-100K defaults, for catalogues of 50k pins on 2 cores: one PinSAGE layer (two
# reach most of the catalogue from a batch's pins), fewer walks per pin, bigger and fewer steps, on
# one torch thread: an epoch over all of the demo world's 8,327 users costs about 10 CPU seconds.
# lr 1e-3 beat 3e-3 on demo validation recall@10 (0.039 at epoch 7 against 0.014 at epoch 1). It
# plateaus for a few epochs before it learns more than popularity: patience 5 waits that out (with
# 3, a copy trained on the earlier half of demo's log stopped on the plateau). At most 40 epochs:
# a cap of 16 stopped ML-100K while validation still rose (0.16 at epoch 15).
ASSET_CONFIG = TwoTowerConfig(
    pin_layers=1, walks=30, batch_size=128, random_negatives=128, lr=1e-3, epochs=40, patience=5
)


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events, pin_board_graph, pin_visual_embeddings],
    op_tags=AFTER_THE_RANKER,
    description="Two-tower retrieval (PinnerFormer user tower + PinSAGE pin tower, shared retrieval loss); "
    "pin vectors in a pgvector HNSW partition, user vectors beside them.",
)
def two_tower_retrieval(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore, ray: RayCluster
) -> MaterializeResult:
    fit, published = train_and_publish(
        context, database, artifacts, ray, TWO_TOWER_KIND, ASSET_CONFIG, train_on_world, with_user_vectors=True
    )
    split, metrics = fit.split, fit.metrics
    context.log.info(
        f"two-tower v{published.version}: trained on {split.n_users} users, {split.n_items} pins; "
        f"{published.pins} pins, {published.users} users indexed; " + holdout_summary(metrics)
    )
    return MaterializeResult(
        metadata={
            **training_metadata(fit.recommender.history, "two-tower", metrics),
            **published.metadata(),
            "training_users": split.n_users,
        }
    )
