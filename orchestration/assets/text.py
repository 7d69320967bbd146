"""The query tower: one text tower for search queries and pin titles, and the pins' text index."""

from functools import partial

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, asset

from models.actions import POSITIVE_ACTIONS
from models.embedding_store import topic_agreement
from models.embedding_width import check_embedding_width
from models.pin_vector_file import PinVectorFile
from models.text_tower import (
    TextTowerConfig,
    embed_texts,
    pin_texts,
    save_text_tower,
    search_training_pairs,
    train_text_tower,
    training_pairs,
)
from orchestration.assets import RANKER_INPUTS
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database, IdVectors
from orchestration.training_metadata import training_metadata
from sql.catalogue import read_table
from sql.events import read_actions, search_engagements

TEXT_KIND = "pin_text"
TEXT_CONFIG = TextTowerConfig()


@asset(
    group_name="embeddings",
    deps=[catalogue, raw_events],
    op_tags=RANKER_INPUTS,
    description=(
        "Text tower trained on (query, engaged pin) pairs, or, in a world with too few searches, on "
        "(text of the pin engaged before, engaged pin) pairs; pin text vectors in a pgvector HNSW partition "
        "and in the tower's checkpoint."
    ),
)
def pin_text_index(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore, ray: RayCluster
) -> MaterializeResult:
    check_embedding_width(TEXT_KIND, TEXT_CONFIG.dim)
    with database.engine().connect() as conn:
        pins = read_table(conn, table="pins", columns=("pin_id", "title", "description", "category"))
        pins = pins.sort_values("pin_id", ignore_index=True)
        pairs_from, pairs = training_pairs(
            search_training_pairs(search_engagements(conn), pins),
            pins,
            partial(read_actions, conn, actions=POSITIVE_ACTIONS),
        )
    if pairs.empty:
        raise RuntimeError("no engaged pins to train the text tower on")
    model, history = train_text_tower(
        pairs, pins, TEXT_CONFIG, on_epoch=lambda epoch, loss, _: context.log.info(f"epoch {epoch}: loss {loss:.4f}")
    )
    # Every pin's vector: batch inference on Ray Data actors when CORKBOARD_RAY_ADDRESS is set.
    vectors = ray.map_rows(partial(embed_texts, model), np.array(pin_texts(pins), dtype=object))
    path = artifacts.new_path(TEXT_KIND, ".safetensors")
    save_text_tower(path, model, PinVectorFile(pins["pin_id"].to_numpy(dtype=np.int64), vectors))
    agreement = topic_agreement(vectors, pins["category"].to_numpy(), sample=500, k=10, seed=0)
    published = artifacts.publish(
        TEXT_KIND,
        path,
        {"topic_agreement@10": agreement},
        run_id=context.run.run_id,
        pin_vectors=IdVectors(pins["pin_id"].to_numpy(), vectors),
    )
    context.log.info(
        f"text index v{published.version}: {len(pairs)} training pairs from {pairs_from}, "
        f"topic agreement@10 {agreement:.3f}"
    )
    return MaterializeResult(
        metadata={
            **training_metadata(history, "text tower", {"topic_agreement@10": agreement}),
            **published.metadata(),
            "training_pairs": len(pairs),
            "training_pairs_from": pairs_from,
        }
    )
