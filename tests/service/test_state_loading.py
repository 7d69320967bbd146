"""Loading the serving state of the tiny world: every served vector kind must have the index's width,
and the load keeps only what requests read of the larger artifacts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import get_settings
from features.store import feature_store
from models.embedding_store import EmbeddingArtifact
from models.embedding_width import EMBEDDING_DIM
from models.pin_vector_file import PinVectorFile
from models.rowwise_int8 import RowwiseInt8Table
from models.served.text_tower import load_text_index
from models.text_tower import embed_texts, load_text_tower, pin_texts, save_text_tower
from service.candidates import NEIGHBOURS_PER_PIN
from service.database_guard import DatabaseGuard
from service.state_loading import ModelFileError, read_stored_serving_data, serving_state_from
from sql.catalogue import pin_texts_of
from sql.migrate import migrated_engine


def test_a_two_tower_version_of_another_width_is_refused_at_load(materialized_tiny: Path) -> None:
    settings = get_settings()
    engine = migrated_engine(settings)
    with engine.connect() as conn:
        stored = read_stored_serving_data(conn)
    assert stored.two_tower is not None and stored.two_tower_users is not None
    assert stored.two_tower_users.vectors.shape[1] == EMBEDDING_DIM
    # The pgvector column cannot hold another width, so the narrow vectors are handed to the loader directly.
    narrow = dataclasses.replace(stored.two_tower_users, vectors=stored.two_tower_users.vectors[:, :32])
    with pytest.raises(ModelFileError, match=f"two_tower version {stored.two_tower.version} .*32 dimensions"):
        serving_state_from(
            dataclasses.replace(stored, two_tower_users=narrow),
            engine=engine,
            store=feature_store(settings),
            settings=settings,
            database=DatabaseGuard(engine, deadline_ms=settings.database_deadline_ms),
        )


def test_a_load_keeps_what_requests_read_of_the_larger_artifacts(materialized_tiny: Path) -> None:
    settings = get_settings()
    engine = migrated_engine(settings)
    with engine.connect() as conn:
        stored = read_stored_serving_data(conn)
    state = serving_state_from(
        stored,
        engine=engine,
        store=feature_store(settings),
        settings=settings,
        database=DatabaseGuard(engine, deadline_ms=settings.database_deadline_ms),
    )
    assert stored.embedding is not None and stored.text is not None
    artifact = EmbeddingArtifact.load(stored.embedding.artifact)
    assert artifact.neighbours.shape[1] > NEIGHBOURS_PER_PIN
    assert state.vectors.neighbours.dtype == np.int32
    np.testing.assert_array_equal(state.vectors.neighbours, artifact.neighbours[:, :NEIGHBOURS_PER_PIN])
    # The query tower holds its token table at 8 bits and still embeds as the stored tower does.
    assert isinstance(state.text.model.tokens, RowwiseInt8Table)
    queries = ["pasta", "cozy living room", ""]
    stored_tower = load_text_tower(stored.text.artifact)
    cosines = (state.text.model.embed(queries) * embed_texts(stored_tower, queries)).sum(axis=1)
    assert cosines.min() > 0.9999
    # The catalogue's text vectors are the ones the text index kept, which its tower gives.
    assert "text" in state.encoder.similarities
    _, kept = load_text_index(Path(stored.text.artifact))
    assert kept is not None
    pin_ids = state.vectors.model.pin_ids
    rows = pd.Index(kept.pin_ids).get_indexer(pin_ids)
    assert (rows >= 0).all()
    np.testing.assert_array_equal(state.learned["text"].vectors, kept.vectors[rows])
    with engine.connect() as conn:
        texts = pin_texts(pin_texts_of(conn, pin_ids))
    np.testing.assert_allclose(state.learned["text"].vectors, embed_texts(stored_tower, texts), rtol=0, atol=1e-6)


def test_pins_the_text_file_lacks_are_embedded_from_their_catalogue_text(materialized_tiny: Path, tmp_path) -> None:
    settings = get_settings()
    engine = migrated_engine(settings)
    with engine.connect() as conn:
        stored = read_stored_serving_data(conn)
    assert stored.text is not None and "title" not in stored.pins  # the texts are read by id, when needed
    tower = load_text_tower(stored.text.artifact)
    _, kept = load_text_index(Path(stored.text.artifact))
    assert kept is not None
    partial = tmp_path / "text_tower.safetensors"  # as if these pins came after the text index ran
    save_text_tower(partial, tower, PinVectorFile(kept.pin_ids[::2], kept.vectors[::2]))
    state = serving_state_from(
        dataclasses.replace(stored, text=dataclasses.replace(stored.text, artifact=str(partial))),
        engine=engine,
        store=feature_store(settings),
        settings=settings,
        database=DatabaseGuard(engine, deadline_ms=settings.database_deadline_ms),
    )
    pin_ids = state.vectors.model.pin_ids
    rows = pd.Index(kept.pin_ids).get_indexer(pin_ids)
    dropped = rows % 2 == 1
    assert dropped.sum() > 10
    np.testing.assert_array_equal(state.learned["text"].vectors[~dropped], kept.vectors[rows[~dropped]])
    # Each dropped pin is embedded from its own title and description: its vector is the kept one.
    np.testing.assert_allclose(state.learned["text"].vectors[dropped], kept.vectors[rows[dropped]], rtol=0, atol=1e-6)


def test_the_service_imports_neither_torch_nor_dgl() -> None:
    # Its models run in numpy (models.served); torch alone would take a third of its memory.
    probe = "import sys, service.app, service.state_loading; print(sorted({'torch', 'dgl'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
