"""The API's documentation pages work without internet: ``/docs`` (Swagger UI) and ``/redoc``
reference no other host, and every script, style sheet and icon they load is served by the app."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from service.app import create_app

# src="...", href="...", url: '...' (Swagger UI's spec), spec-url="..." (ReDoc's)
REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*'([^']+)'""")
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


@pytest.fixture(scope="module")
def client() -> TestClient:
    """The app without its lifespan: the pages need no loaded world."""
    return TestClient(create_app())


def references(page: str) -> list[str]:
    """Every URL a page loads or points its viewer at."""
    return [first or second for first, second in REFERENCE.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_page_references_no_other_host(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    hosts = {urlsplit(url).netloc for url in ABSOLUTE_URL.findall(page.text)}
    assert hosts <= {"testserver"}, f"{path} reaches out to {hosts}"
    loaded = references(page.text)
    assert any(url.endswith(".js") for url in loaded), loaded
    for url in loaded:
        answer = client.get(urljoin(str(page.url), url))
        assert answer.status_code == 200, url
        assert answer.content, url


def test_swagger_ui_loads_its_bundle_and_styles_from_the_app(client: TestClient) -> None:
    loaded = references(client.get("/docs").text)
    scripts = [url for url in loaded if url.endswith(".js")]
    styles = [url for url in loaded if url.endswith(".css")]
    assert scripts and styles
    assert "javascript" in client.get(scripts[0]).headers["content-type"]
    style = client.get(styles[0])
    assert style.headers["content-type"].startswith("text/css")
    assert not re.search(r"url\(\s*[\"']?(?:https?:)?//|@import", style.text), "the style sheet loads from elsewhere"
    assert "/openapi.json" in loaded
