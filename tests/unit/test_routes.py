"""Every route needs a key unless it is declared public: the guard, not each handler, decides."""

from __future__ import annotations

import inspect
import re

import pytest
from litestar.testing import TestClient

from whisper_api.server.deps import PUBLIC, SELF

OPEN_PAGES = {"/", "/static/{name:str}", "/healthz", "/readyz", "/metrics"}
"""Public on purpose: the page, health checks, metrics (bind them to a private interface); and the API spec
under /schema."""


def _routes(client: TestClient) -> list[tuple[str, str, object]]:  # type: ignore[type-arg]
    found = []
    for route in client.app.routes:
        handlers = getattr(route, "route_handlers", None) or [route.route_handler]  # type: ignore[attr-defined]
        for handler in handlers:
            for method in sorted(getattr(handler, "http_methods", {"GET"}) - {"OPTIONS", "HEAD"}):
                found.append((method, route.path, handler.opt.get("access")))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_only_the_declared_routes_are_open(client: TestClient) -> None:  # type: ignore[type-arg]
    routes = _routes(client)
    public = {path for _, path, access in routes if access == PUBLIC}
    assert {path for path in public if not path.startswith("/schema")} == OPEN_PAGES
    assert all(access == PUBLIC for _, path, access in routes if path.startswith("/schema"))
    assert {path for _, path, access in routes if access == SELF} == {"/v1/listen"}  # the WebSocket's handshake


def test_every_other_route_refuses_a_call_without_a_key(client: TestClient, keys: dict[str, str]) -> None:  # type: ignore[type-arg]
    checked = 0
    for method, path, access in _routes(client):
        if access in (PUBLIC, SELF) or path.startswith("/schema"):
            continue
        response = client.request(method, _concrete(path))
        assert response.status_code == 401, (method, path, response.text)
        assert "Invalid credentials" in response.text or "invalid_api_key" in response.text
        checked += 1
    assert checked >= 14  # the Deepgram, OpenAI, model, job and key-management routes


@pytest.mark.parametrize(("path", "scope", "status"), [
    ("/v1/projects", "listen", 403),  # a listen key cannot manage keys
    ("/v1/projects", "admin", 200),
    ("/v1/models", "listen", 200),
])
def test_a_key_gets_what_its_scope_allows(client: TestClient, keys: dict[str, str], path: str, scope: str,  # type: ignore[type-arg]
                                          status: int) -> None:
    assert client.get(path, headers={"Authorization": f"Token {keys[scope]}"}).status_code == status


def test_a_temporary_token_transcribes_but_cannot_grant_another(client: TestClient, keys: dict[str, str]) -> None:  # type: ignore[type-arg]
    granted = client.post("/v1/auth/grant", headers={"Authorization": f"Token {keys['listen']}"}, json={})
    token = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    assert client.get("/v1/models", headers=token).status_code == 200
    refused = client.post("/v1/auth/grant", headers=token, json={})
    assert refused.status_code == 401


def test_every_public_page_answers(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/", "/static/app.js", "/healthz", "/readyz", "/metrics"):
        response = client.get(path)
        assert response.status_code in (200, 503), (path, response.text)  # /readyz: 503 while the model loads
        assert "Missing required" not in response.text


def test_handlers_ask_only_for_what_the_server_provides(client: TestClient) -> None:  # type: ignore[type-arg]
    """A handler parameter that names no dependency is a 400 at request time; caught here instead."""
    provided = set(client.app.dependencies) | {"request", "socket", "data", "scope"}  # scope: OPTIONS
    for route in client.app.routes:
        handlers = getattr(route, "route_handlers", None) or [route.route_handler]  # type: ignore[attr-defined]
        path_parameters = set(re.findall(r"\{(\w+)", route.path))
        for handler in handlers:
            if route.path.startswith("/schema"):
                continue
            asked = set(inspect.signature(handler.fn).parameters)
            assert asked <= provided | path_parameters, (route.path, asked - provided - path_parameters)
            assert "server" not in asked  # handlers get the parts they use, never the whole state
