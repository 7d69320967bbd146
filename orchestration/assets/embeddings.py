"""A first pin embedding (co-engagement factorization) and its pgvector HNSW index."""


import time
import uuid

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.co_engagement import CoEngagementConfig, fit_co_engagement, item_neighbours, popular_pins
from models.embedding_store import EmbeddingArtifact, chance_agreement, topic_agreement
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.resources import ArtifactStore, Database
from sql.catalogue import read_table
from sql.embeddings import load_pin_partition, load_user_vectors, nearest_pins
from sql.events import read_actions
from sql.versions import activate_version, latest_version, register_version

EMBEDDING_KIND = "pin_embedding"
POSITIVE_ACTIONS = ("click", "save", "long_click")


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events],
    description="Pin and user vectors from a truncated SVD of co-engagement, plus the popularity and co-occurrence baselines.",
)
def co_engagement_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    config = CoEngagementConfig()
    with database.engine().connect() as conn:
        events = read_actions(conn, actions=POSITIVE_ACTIONS)
        pins = read_table(conn, table="pins", columns=("pin_id", "category"))
        users = read_table(conn, table="users", columns=("user_id",))
    pin_ids, user_ids = np.sort(pins["pin_id"].to_numpy()), np.sort(users["user_id"].to_numpy())
    started = time.perf_counter()
    model, matrix = fit_co_engagement(events, user_ids, pin_ids, config)
    artifact = EmbeddingArtifact(
        model=model,
        neighbours=item_neighbours(matrix, config.neighbours),
        popular=popular_pins(matrix, 1000),
    )
    seconds = time.perf_counter() - started
    categories = pins.set_index("pin_id").loc[pin_ids, "category"].to_numpy()
    agreement = topic_agreement(model.pin_vectors, categories, sample=500, k=10, seed=config.seed)
    path = artifacts.path_for(EMBEDDING_KIND, f"{uuid.uuid4().hex}.npz")
    artifact.save(path)
    with database.engine().begin() as conn:
        version = register_version(
            conn, kind=EMBEDDING_KIND, artifact=str(path), metrics={"topic_agreement@10": agreement}
        )
    context.log.info(f"embedding v{version}: {matrix.nnz} engagements, topic agreement@10 {agreement:.3f}")
    return MaterializeResult(
        metadata={
            "version": version,
            "path": MetadataValue.path(str(path)),
            "engagements": int(matrix.nnz),
            "pins_with_vectors": int(np.any(model.pin_vectors != 0, axis=1).sum()),
            "topic_agreement@10": agreement,
            "chance_topic_agreement": chance_agreement(categories),
            "fit_seconds": round(seconds, 2),
        }
    )


@asset(
    group_name="embeddings",
    deps=[co_engagement_embeddings],
    description="The newest pin vectors in a pgvector HNSW partition, built beside the serving one, then swapped in.",
)
def pin_vector_index(context: AssetExecutionContext, database: Database, artifacts: ArtifactStore) -> MaterializeResult:
    with database.engine().connect() as conn:
        version = latest_version(conn, kind=EMBEDDING_KIND)
    if version is None:
        raise RuntimeError("no pin_embedding version registered; materialize co_engagement_embeddings first")
    artifact = EmbeddingArtifact.load(version.artifact)
    model = artifact.model
    indexed = np.any(model.pin_vectors != 0, axis=1)  # pins nobody engaged with have no direction
    started = time.perf_counter()
    with database.engine().begin() as conn:
        pins = load_pin_partition(
            conn, version=version.version, pin_ids=model.pin_ids[indexed], vectors=model.pin_vectors[indexed]
        )
        users = load_user_vectors(conn, version=version.version, user_ids=model.user_ids, vectors=model.user_vectors)
        activate_version(conn, kind=EMBEDDING_KIND, version=version.version)
    build_seconds = time.perf_counter() - started
    pruned = artifacts.prune(database.engine(), kind=EMBEDDING_KIND)
    recall = _hnsw_recall(database, version.version, model.pin_vectors[indexed], model.pin_ids[indexed])
    context.log.info(f"index v{version.version}: {pins} pins in {build_seconds:.1f}s, recall@100 {recall:.3f}")
    return MaterializeResult(
        metadata={
            "version": version.version,
            "pins": pins,
            "users": users,
            "build_seconds": round(build_seconds, 2),
            "recall@100_vs_exact": recall,
            "pruned_versions": MetadataValue.json(pruned),
        }
    )


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
