"""A service started before anything was materialized says so instead of failing."""

from fastapi.testclient import TestClient

from core.database import stop_embedded_postgres
from service.app import create_app
from tests.conftest import use_data_dir


def test_empty_data_dir_is_not_ready_and_answers_503(tmp_path_factory, session_data_dir):
    empty = tmp_path_factory.mktemp("empty")
    use_data_dir(empty)
    try:
        with TestClient(create_app()) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "corkboard materialize" in ready.json()["detail"]
            assert client.get("/healthz").status_code == 200
            response = client.get("/v1/users/1/recommendations")
            assert response.status_code == 503
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(empty / "postgres")
