"""What the engagement-trained models read (two-tower, PinSAGE and the ranker's copies of them):
the catalogue with the positive engagements, the serving visual vectors, and a log line per epoch;
and how the served ones are trained and published as a version of the run."""

from collections.abc import Callable
from functools import partial
from typing import Any

from dagster import AssetExecutionContext

from core.world import World
from models.actions import POSITIVE_ACTIONS
from models.embedding_width import check_embedding_width
from models.training import EpochCallback
from models.two_tower.world_training import USER_FEATURES
from models.visual import VisualArtifact
from orchestration.assets.visual import VISUAL_KIND
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database, IdVectors, Published

# models.<kind>.world_training.train_on_world: (world, config, visual=, on_epoch=, fit=) -> its fit
WorldTrainer = Callable[..., Any]


def engagement_world(database: Database) -> World:
    """The catalogue and the positive engagements, in the columns ``split_world`` reads."""
    return World(
        pins=database.read_table("pins", ("pin_id", "title", "description", "category")),
        boards=database.read_table("boards", ("board_id", "user_id")),
        board_pins=database.read_table("board_pins", ("board_id", "pin_id")),
        users=database.read_table("users", ("user_id", *USER_FEATURES)),
        events=database.read_actions(POSITIVE_ACTIONS),
    )


def serving_visuals(database: Database, run_id: str) -> VisualArtifact | None:
    """The visual vectors (extra pin inputs) that the run ``run_id`` serves: its own build, else the
    serving one; None before ``pin_visual_embeddings`` ran."""
    version = database.version_for_run(VISUAL_KIND, run_id)
    return None if version is None else VisualArtifact.load(version.artifact)


def holdout_summary(metrics: dict[str, float]) -> str:
    """The held-out recall@10 of a model beside the co-engagement baseline's, for the run's log."""
    return (
        f"holdout recall@10 {metrics['holdout_recall@10']:.4f} "
        f"(co-engagement {metrics['co_engagement_holdout_recall@10']:.4f})"
    )


def epoch_logger(context: AssetExecutionContext, prefix: str = "") -> EpochCallback:
    """An ``on_epoch`` hook writing each epoch's loss and validation recall@10 to the run's log."""
    return lambda epoch, loss, recall: context.log.info(
        f"{prefix}epoch {epoch}: loss {loss:.4f}, validation recall@10 {recall:.4f}"
    )


def _on_ray_when_enabled(
    train_on_world: WorldTrainer, ray: RayCluster, artifacts: ArtifactStore, kind: str
) -> WorldTrainer:
    """``train_on_world`` fitting with Ray Train's workers when ``ray`` is enabled (checkpointing
    beside ``kind``'s versions), else as it is (in this process)."""
    on_ray = ray.train_fit(artifacts.settings().model_dir / kind / "ray")
    return train_on_world if on_ray is None else partial(train_on_world, fit=on_ray)


def train_and_publish(
    context: AssetExecutionContext,
    database: Database,
    artifacts: ArtifactStore,
    ray: RayCluster,
    kind: str,
    config: Any,
    train_on_world: WorldTrainer,
    *,
    with_user_vectors: bool = False,
) -> tuple[Any, Published]:
    """Train ``kind`` at ``config`` on the world's engagements (the run's visual vectors as pin inputs;
    on ``ray`` when enabled) and publish its checkpoint and every pin's vector (and each user's,
    ``with_user_vectors``) as a version of this run: the fit and what was published."""
    check_embedding_width(kind, config.dim)
    fit = _on_ray_when_enabled(train_on_world, ray, artifacts, kind)(
        engagement_world(database),
        config,
        visual=serving_visuals(database, context.run.run_id),
        on_epoch=epoch_logger(context),
    )
    path = artifacts.new_path(kind, ".safetensors")
    fit.recommender.save(path)
    users = {"user_vectors": IdVectors(fit.user_ids, fit.user_vectors)} if with_user_vectors else {}
    published = artifacts.publish(
        kind,
        path,
        fit.metrics,
        run_id=context.run.run_id,
        pin_vectors=IdVectors(fit.split.item_ids, fit.recommender.item_vectors),
        **users,
    )
    return fit, published
