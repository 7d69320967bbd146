"""Two-tower retrieval: user and pin towers trained on the world's engagements; the pin vectors
become a new pgvector HNSW partition of kind ``two_tower`` and each user's current vector is
stored beside them, all swapped in with one transaction."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from core.world import World
from models.actions import POSITIVE_ACTIONS
from models.embedding_width import check_embedding_width
from models.two_tower import TwoTowerConfig
from models.two_tower.world_training import USER_FEATURES, train_on_world
from models.visual import VisualArtifact
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.visual import VISUAL_KIND, pin_visual_embeddings
from orchestration.resources import ArtifactStore, Database, IdVectors
from orchestration.training_metadata import training_metadata

TWO_TOWER_KIND = "two_tower"
# Cheaper than the ML-100K defaults, for catalogues of 50k pins on 2 cores: one PinSAGE layer (two
# reach most of the catalogue from a batch's pins), fewer walks per pin, bigger and fewer steps.
# One epoch over the demo world's 8,327 users took 275 s at load average 9 on 2 cores: train on a
# sample of users (every user still gets a vector from the trained towers).
MAX_TRAINING_USERS = 3_000
ASSET_CONFIG = TwoTowerConfig(pin_layers=1, walks=30, batch_size=128, random_negatives=128, epochs=6, patience=2)


def engagement_world(database: Database) -> World:
    """The catalogue and the positive engagements, in the columns ``split_world`` reads."""
    return World(
        pins=database.read_table("pins", ("pin_id", "title", "description", "category")),
        boards=database.read_table("boards", ("board_id", "user_id")),
        board_pins=database.read_table("board_pins", ("board_id", "pin_id")),
        users=database.read_table("users", ("user_id", *USER_FEATURES)),
        events=database.read_actions(POSITIVE_ACTIONS),
    )


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events, pin_board_graph, pin_visual_embeddings],
    description="Two-tower retrieval (PinnerFormer user tower + PinSAGE pin tower, shared retrieval loss); "
    "pin vectors in a pgvector HNSW partition, user vectors beside them.",
)
def two_tower_retrieval(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    check_embedding_width(TWO_TOWER_KIND, ASSET_CONFIG.dim)
    visual = database.active_version(VISUAL_KIND)
    fit = train_on_world(
        engagement_world(database),
        ASSET_CONFIG,
        max_users=MAX_TRAINING_USERS,
        visual=None if visual is None else VisualArtifact.load(visual.artifact),
        on_epoch=lambda epoch, loss, recall: context.log.info(
            f"epoch {epoch}: loss {loss:.4f}, validation recall@10 {recall:.4f}"
        ),
    )
    recommender, split, metrics = fit.recommender, fit.split, fit.metrics
    path = artifacts.new_path(TWO_TOWER_KIND, ".safetensors")
    recommender.save(path)
    published = artifacts.publish(
        TWO_TOWER_KIND,
        path,
        metrics,
        pin_vectors=IdVectors(split.item_ids, recommender.item_vectors),
        user_vectors=IdVectors(fit.user_ids, fit.user_vectors),
    )
    context.log.info(
        f"two-tower v{published.version}: trained on {split.n_users} of {fit.engaged_users} users, {split.n_items} "
        f"pins; {published.pins} pins, {published.users} users indexed; holdout recall@10 "
        f"{metrics['holdout_recall@10']:.4f} (co-engagement {metrics['co_engagement_holdout_recall@10']:.4f})"
    )
    return MaterializeResult(
        metadata={
            **training_metadata(recommender.history, "two-tower", metrics),
            **published.metadata(),
            "training_users": split.n_users,
        }
    )
