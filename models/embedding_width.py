"""The one width of every served vector: the pgvector columns (migration 0002) store this many
dimensions, so every model whose vectors are indexed or stored is built with it."""

from __future__ import annotations

EMBEDDING_DIM = 64


class EmbeddingWidthError(ValueError):
    """A model's vectors do not have the width of the index they are stored in."""


def check_embedding_width(kind: str, width: int) -> None:
    """Raise EmbeddingWidthError unless ``width`` (of vector kind ``kind``) is EMBEDDING_DIM."""
    if width != EMBEDDING_DIM:
        raise EmbeddingWidthError(
            f"{kind} vectors have {width} dimensions; the database index stores {EMBEDDING_DIM}"
        )
