"""The serving state of the tiny world, as the app loads it, for tests that call the service's functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.serving_state import ServingState


@pytest.fixture(scope="module")
def state(materialized_tiny) -> Iterator[ServingState]:
    """Per module, since some modules write events that a shared state would not see."""
    with TestClient(create_app()) as client:
        yield client.app.state.serving
