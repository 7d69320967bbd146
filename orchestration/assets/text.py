"""The query tower: one text tower for search queries and pin titles, and the pins' text index."""

import uuid

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.embedding_store import topic_agreement
from models.text_tower import (
    TextTowerConfig,
    embed_texts,
    pin_texts,
    save_text_tower,
    search_training_pairs,
    train_text_tower,
)
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata
from sql.catalogue import read_table
from sql.embeddings import load_pin_partition
from sql.events import search_engagements
from sql.versions import activate_version, register_version

TEXT_KIND = "pin_text"


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events],
    description="Text tower trained on (query, engaged pin) pairs; pin text vectors in a pgvector HNSW partition.",
)
def pin_text_index(context: AssetExecutionContext, database: Database, artifacts: ArtifactStore) -> MaterializeResult:
    with database.engine().connect() as conn:
        events = search_engagements(conn)
        pins = read_table(conn, table="pins", columns=("pin_id", "title", "description", "category"))
    pins = pins.sort_values("pin_id", ignore_index=True)
    pairs = search_training_pairs(events, pins)
    if pairs.empty:
        raise RuntimeError("no engaged search results to train the query tower on")
    config = TextTowerConfig()
    model, history = train_text_tower(
        pairs, pins, config, on_epoch=lambda epoch, loss, _: context.log.info(f"epoch {epoch}: loss {loss:.4f}")
    )
    vectors = embed_texts(model, pin_texts(pins))
    path = artifacts.path_for(TEXT_KIND, f"{uuid.uuid4().hex}.pt")
    save_text_tower(path, model)
    agreement = topic_agreement(vectors, pins["category"].to_numpy(), sample=500, k=10, seed=0)
    with database.engine().begin() as conn:
        version = register_version(conn, kind=TEXT_KIND, artifact=str(path), metrics={"topic_agreement@10": agreement})
        load_pin_partition(conn, version=version, pin_ids=pins["pin_id"].to_numpy(), vectors=vectors)
        activate_version(conn, kind=TEXT_KIND, version=version)
    pruned = artifacts.prune(database.engine(), kind=TEXT_KIND)
    context.log.info(f"text index v{version}: {len(pairs)} training pairs, topic agreement@10 {agreement:.3f}")
    return MaterializeResult(
        metadata={
            **training_metadata(history, "text tower", {"topic_agreement@10": agreement}),
            "version": version,
            "path": MetadataValue.path(str(path)),
            "training_pairs": len(pairs),
            "pruned_versions": MetadataValue.json(pruned),
        }
    )
