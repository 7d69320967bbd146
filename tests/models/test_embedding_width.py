"""Served vectors have one width: the configs of served models default to it, and the check names
the kind whose vectors do not fit."""

import pytest

from models.co_engagement import CoEngagementConfig
from models.embedding_width import EMBEDDING_DIM, EmbeddingWidthError, check_embedding_width
from models.text_tower import TextTowerConfig
from models.two_tower import TwoTowerConfig


@pytest.mark.parametrize("config", [CoEngagementConfig, TextTowerConfig, TwoTowerConfig])
def test_served_models_default_to_the_embedding_width(config):
    assert config().dim == EMBEDDING_DIM


def test_the_check_passes_the_width_and_names_the_kind_otherwise():
    check_embedding_width("pin_text", EMBEDDING_DIM)
    with pytest.raises(EmbeddingWidthError, match=f"pin_text vectors have 32 dimensions; .* stores {EMBEDDING_DIM}"):
        check_embedding_width("pin_text", 32)
