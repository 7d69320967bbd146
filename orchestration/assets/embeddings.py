"""A first pin embedding (co-engagement factorization), its pgvector HNSW index and each user's
PinnerSage medoids in it."""

import time

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, asset

from models.actions import POSITIVE_ACTIONS
from models.co_engagement import CoEngagementConfig, CoEngagementModel
from models.embedding_store import EmbeddingArtifact
from models.embedding_width import check_embedding_width
from models.interests import LATEST_ENGAGEMENTS
from models.pin_embedding import fit_pin_embedding
from models.pinnersage import medoid_candidates, users_medoids
from orchestration.assets import LAST, RANKER_INPUTS
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.resources import ArtifactStore, Database, IdVectors
from orchestration.training_metadata import agreement_plot_png, plot_markdown
from sql.embeddings import nearest_pins
from sql.versions import ModelVersion

EMBEDDING_KIND = "pin_embedding"
EMBEDDING_CONFIG = CoEngagementConfig()
AGREEMENT_TITLE = "co-engagement: topic agreement"


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events],
    op_tags=RANKER_INPUTS,
    description="Pin and user vectors from a truncated SVD of co-engagement, plus the popularity and co-occurrence "
    "baselines; the pin vectors in a pgvector HNSW partition built beside the serving one, then swapped in.",
)
def co_engagement_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    check_embedding_width(EMBEDDING_KIND, EMBEDDING_CONFIG.dim)
    events = database.read_actions(POSITIVE_ACTIONS)
    pins = database.read_table("pins", ("pin_id", "category"))
    users = database.read_table("users", ("user_id",))
    fit = fit_pin_embedding(events, pins, users["user_id"].to_numpy(), EMBEDDING_CONFIG)
    model = fit.artifact.model
    path = artifacts.new_path(EMBEDDING_KIND, ".npz")
    fit.artifact.save(path)
    engaged = model.engaged_pins()
    published = artifacts.publish(
        EMBEDDING_KIND,
        path,
        {"topic_agreement@10": fit.topic_agreement},
        run_id=context.run.run_id,
        pin_vectors=IdVectors(model.pin_ids[engaged], model.pin_vectors[engaged]),
        user_vectors=IdVectors(model.user_ids, model.user_vectors),
    )
    context.log.info(
        f"embedding v{published.version}: {fit.engagements} engagements, {published.pins} pins indexed, "
        f"topic agreement@10 {fit.topic_agreement:.3f}"
    )
    return MaterializeResult(
        metadata={
            **published.metadata(),
            "engagements": fit.engagements,
            "pins_with_vectors": int(engaged.sum()),
            "topic_agreement@10": fit.topic_agreement,
            "chance_topic_agreement": fit.chance_agreement,
            "topic_agreement_plot": plot_markdown(
                agreement_plot_png(fit.agreement_by_k, fit.chance_agreement, AGREEMENT_TITLE), AGREEMENT_TITLE
            ),
            "fit_seconds": round(fit.seconds, 2),
        }
    )


@asset(
    group_name="embeddings",
    deps=[co_engagement_embeddings],
    op_tags=RANKER_INPUTS,
    description="The pin embedding's pgvector HNSW partition that the run serves (its own build, else the serving "
    "one), measured: its recall@100 against exact search.",
)
def pin_vector_index(context: AssetExecutionContext, database: Database) -> MaterializeResult:
    version, model = _run_embedding(context, database)
    engaged = model.engaged_pins()
    recall = _hnsw_recall(database, version.version, model.pin_vectors[engaged], model.pin_ids[engaged])
    context.log.info(f"index v{version.version}: {int(engaged.sum())} pins, recall@100 {recall:.3f}")
    return MaterializeResult(
        metadata={"version": version.version, "pins": int(engaged.sum()), "recall@100_vs_exact": recall}
    )


@asset(
    group_name="embeddings",
    deps=[pin_vector_index],
    op_tags=LAST,
    description="Each user's PinnerSage medoids (the pins the home feed searches from) in the pin embedding the run "
    "serves, from their latest engagements in the event log, with each medoid's nearest pins in its HNSW partition, "
    "so that a request reads them instead of clustering and searching; recomputed with the embedding (nightly), "
    "a user who engaged since is clustered and searched on request.",
)
def pinnersage_medoids(context: AssetExecutionContext, database: Database) -> MaterializeResult:
    version, model = _run_embedding(context, database)
    started = time.perf_counter()
    latest = database.latest_engagements(LATEST_ENGAGEMENTS)
    medoids = users_medoids(latest, model.pin_vectors_for, latest=LATEST_ENGAGEMENTS)
    clustered = time.perf_counter()
    engaged = {user: pins.to_numpy() for user, pins in latest.groupby("user_id")["pin_id"]}
    medoids = medoid_candidates(
        medoids,
        nearest=lambda pins, k: database.nearest_pin_ids(version.version, model.pin_vectors_for(pins), k),
        engaged=lambda user: engaged.get(user, np.empty(0, dtype=np.int64)),
    )
    users = database.store_medoids(version.version, medoids)
    seconds = {"clustering_s": round(clustered - started, 2), "searching_s": round(time.perf_counter() - clustered, 2)}
    context.log.info(f"medoids and their nearest pins of {users} users in embedding v{version.version} ({seconds})")
    return MaterializeResult(metadata={"version": version.version, "users": users, **seconds})


def _run_embedding(context: AssetExecutionContext, database: Database) -> tuple[ModelVersion, CoEngagementModel]:
    """The pin embedding the run serves (its own build, else the serving one) and its model."""
    version = database.version_for_run(EMBEDDING_KIND, context.run.run_id)
    if version is None:
        raise RuntimeError("no pin_embedding version built or serving; materialize co_engagement_embeddings first")
    return version, EmbeddingArtifact.load(version.artifact).model


def _hnsw_recall(database: Database, version: int, vectors: np.ndarray, pin_ids: np.ndarray, queries: int = 20) -> float:
    """Recall@100 of the HNSW index against exact cosine search, on a few indexed pins as queries."""
    rng = np.random.default_rng(0)
    k = min(100, len(pin_ids))
    hits = 0
    with database.engine().connect() as conn:
        for row in rng.choice(len(pin_ids), size=min(queries, len(pin_ids)), replace=False):
            exact = set(pin_ids[np.argsort(-(vectors @ vectors[row]), kind="stable")[:k]].tolist())
            found = nearest_pins(conn, version=version, query=vectors[row], k=k, exclude=[], ef_search=100)
            hits += len(exact & {pin for pin, _ in found})
    return hits / (k * min(queries, len(pin_ids)))
