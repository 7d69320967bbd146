"""Two-tower retrieval: user and pin towers trained on the world's engagements; the pin vectors
become a new pgvector HNSW partition of kind ``two_tower`` and each user's current vector is
stored beside them, all swapped in with one transaction."""

import dataclasses
import time
import uuid

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from core.world import World
from models.baselines import CoEngagementRecommender
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world
from models.two_tower import TwoTowerConfig, TwoTowerRecommender, user_feature_codes
from models.visual import VisualArtifact
from orchestration.assets.embeddings import POSITIVE_ACTIONS
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.visual import VISUAL_KIND, pin_visual_embeddings
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata
from sql.catalogue import read_table
from sql.embeddings import load_pin_partition, load_user_vectors
from sql.events import read_actions
from sql.versions import activate_version, active_version, register_version

TWO_TOWER_KIND = "two_tower"
USER_FEATURES = ("country", "language", "age_bucket")
# Cheaper than the ML-100K defaults, for catalogues of 50k pins on 2 cores: one PinSAGE layer (two
# reach most of the catalogue from a batch's pins), fewer walks per pin, bigger and fewer steps.
# One epoch over the demo world's 8,327 users took 275 s at load average 9 on 2 cores: train on a
# sample of users (every user still gets a vector from the trained towers).
MAX_TRAINING_USERS = 3_000
ASSET_CONFIG = TwoTowerConfig(pin_layers=1, walks=30, batch_size=128, random_negatives=128, epochs=6, patience=2)


def engagement_world(database: Database) -> World:
    """The catalogue and the positive engagements, in the columns ``split_world`` reads."""
    with database.engine().connect() as conn:
        return World(
            pins=read_table(
                conn,
                table="pins",
                columns=("pin_id", "title", "description", "category"),
            ),
            boards=read_table(conn, table="boards", columns=("board_id", "user_id")),
            board_pins=read_table(conn, table="board_pins", columns=("board_id", "pin_id")),
            users=read_table(conn, table="users", columns=("user_id", *USER_FEATURES)),
            events=read_actions(conn, actions=POSITIVE_ACTIONS),
        )


def current_user_vectors(
    recommender: TwoTowerRecommender, world: World, split: EvaluationSplit
) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, unit vectors) of every user with an engagement, from their latest
    ``max_len`` engagements (held-out ones included) and their features."""
    events = world.events.sort_values(["user_id", "ts", "pin_id"], kind="stable")
    latest = events.groupby("user_id", sort=True).tail(recommender.config.max_len)
    user_ids, starts = np.unique(latest["user_id"].to_numpy(dtype=np.int64), return_index=True)
    items = np.split(
        np.searchsorted(split.item_ids, latest["pin_id"].to_numpy(dtype=np.int64)),
        starts[1:],
    )
    times = np.split(latest["ts"].astype("int64").to_numpy() / 1e9, starts[1:])
    features = world.users.set_index("user_id").reindex(user_ids)
    codes = user_feature_codes(features, recommender.config, len(user_ids))
    return user_ids, recommender.embed_users(items, times, codes)


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events, pin_board_graph, pin_visual_embeddings],
    description="Two-tower retrieval (PinnerFormer user tower + PinSAGE pin tower, shared retrieval loss); "
    "pin vectors in a pgvector HNSW partition, user vectors beside them.",
)
def two_tower_retrieval(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    world = engagement_world(database)
    everyone = split_world(world)  # per user: latest engagement held out, the one before it for early stopping
    split = user_sample(everyone, MAX_TRAINING_USERS, seed=ASSET_CONFIG.seed)
    context.log.info(
        f"two-tower: training on {split.n_users} of {everyone.n_users} users, {split.n_items} pins, "
        f"{sum(map(len, split.train))} actions"
    )
    visual = _visual_vectors(database, split)
    recommender = TwoTowerRecommender(
        ASSET_CONFIG,
        item_features=visual,
        user_features=world.users.set_index("user_id")[list(USER_FEATURES)],
        on_epoch=lambda epoch, loss, recall: context.log.info(
            f"epoch {epoch}: loss {loss:.4f}, validation recall@10 {recall:.4f}"
        ),
    )
    recommender.fit(split.without_test())
    metrics = _holdout_metrics(recommender, split)
    started = time.perf_counter()
    user_ids, user_vectors = current_user_vectors(recommender, world, split)
    path = artifacts.path_for(TWO_TOWER_KIND, f"{uuid.uuid4().hex}.pt")
    recommender.save(path)
    with database.engine().begin() as conn:
        version = register_version(conn, kind=TWO_TOWER_KIND, artifact=str(path), metrics=metrics)
        pins = load_pin_partition(
            conn,
            version=version,
            pin_ids=split.item_ids,
            vectors=recommender.item_vectors,
        )
        users = load_user_vectors(conn, version=version, user_ids=user_ids, vectors=user_vectors)
        activate_version(conn, kind=TWO_TOWER_KIND, version=version)
    pruned = artifacts.prune(database.engine(), kind=TWO_TOWER_KIND)
    context.log.info(
        f"two-tower v{version}: {pins} pins, {users} users; holdout recall@10 {metrics['holdout_recall@10']:.4f} "
        f"(co-engagement {metrics['co_engagement_holdout_recall@10']:.4f})"
    )
    return MaterializeResult(
        metadata={
            **training_metadata(recommender.history, "two-tower", metrics),
            "version": version,
            "path": MetadataValue.path(str(path)),
            "pins": pins,
            "users": users,
            "pruned_versions": MetadataValue.json(pruned),
            "training_users": split.n_users,
            "index_seconds": round(time.perf_counter() - started, 2),
        }
    )


def user_sample(split: EvaluationSplit, max_users: int, *, seed: int) -> EvaluationSplit:
    """``split`` restricted to a random ``max_users`` of its users (all of them if fewer)."""
    if split.n_users <= max_users:
        return split
    keep = np.sort(np.random.default_rng(seed).choice(split.n_users, size=max_users, replace=False))
    return dataclasses.replace(
        split,
        n_users=max_users,
        train=[split.train[user] for user in keep],
        train_times=[split.train_times[user] for user in keep],
        validation=split.validation[keep],
        test=split.test[keep],
        user_ids=split.user_ids[keep],
        validation_times=split.validation_times[keep],
    )


def _visual_vectors(database: Database, split: EvaluationSplit) -> np.ndarray | None:
    """The serving visual vector of each of ``split``'s pins (zeros where it has none), or None
    without a visual version."""
    with database.engine().connect() as conn:
        version = active_version(conn, kind=VISUAL_KIND)
    return None if version is None else VisualArtifact.load(version.artifact).aligned(split.item_ids)[0]


def _holdout_metrics(recommender: TwoTowerRecommender, split: EvaluationSplit) -> dict[str, float]:
    """Recall@10/@100 on each user's held-out latest engagement, the two-tower model's and that of
    the co-engagement embedding fit on the same training part; validation recall@10 beside them."""
    baseline = CoEngagementRecommender()
    baseline.fit(split.without_test())
    ks = (10, 100)
    ours, theirs = (evaluate_recommender(model, split, "test", ks=ks) for model in (recommender, baseline))
    return {
        **{f"holdout_recall@{k}": ours[f"recall@{k}"] for k in ks},
        **{f"co_engagement_holdout_recall@{k}": theirs[f"recall@{k}"] for k in ks},
        "validation_recall@10": max(recommender.history.validation, default=float("nan")),
    }
