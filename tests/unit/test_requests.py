"""Requests refused before any audio is decoded: authentication, parameters, bodies, key management.

In-process (Litestar's test client): the same app the server runs, without a socket or a subprocess.
Each refusal is Deepgram's error shape with the request id of its header.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest
from litestar.testing import TestClient

from whisper_api.server.deepgram.projects import PROJECT_ID

Client = TestClient  # type: ignore[type-arg]
JSON = {"Content-Type": "application/json"}
WAV = b"RIFF" + b"\x00" * 40  # never decoded: every request here is refused first


def _listen(client: Client, keys: dict[str, str], key: str | None = "listen", query: str = "",
            body: bytes = WAV, headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"Authorization": f"Token {keys[key]}"} if key else {}
    return client.post(f"/v1/listen{query}", content=body, headers={**sent, **(headers or {})})


def _expired_token(home: Path, keys: dict[str, str]) -> str:
    secret = bytes.fromhex((home / "server-secret").read_text())
    now = datetime.now(timezone.utc)
    return jwt.encode({"sub": keys["listen"][3:15], "scope": "listen", "iat": now - timedelta(minutes=5),
                       "exp": now - timedelta(minutes=1)}, secret, algorithm="HS256")


def _assert_deepgram_error(response: httpx.Response, status: int, err_code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["err_code"] == err_code and body["err_msg"]
    assert body["request_id"] == response.headers["dg-request-id"]


@pytest.mark.parametrize("case", ["no key", "unknown key", "revoked key", "expired key", "expired temporary token"])
def test_a_listen_request_without_a_good_key_is_401(client: Client, keys: dict[str, str], home: Path,
                                                     case: str) -> None:
    headers = {"no key": {}, "unknown key": {"Authorization": "Token wa_nope"},
               "revoked key": {"Authorization": f"Token {keys['revoked']}"},
               "expired key": {"Authorization": f"Token {keys['expired']}"},
               "expired temporary token": {"Authorization": f"bearer {_expired_token(home, keys)}"}}[case]
    _assert_deepgram_error(_listen(client, keys, key=None, headers=headers), 401, "INVALID_AUTH")


@pytest.mark.parametrize("authorization", [None, "wa_nope", "Basic d2E6bm9wZQ=="])
def test_a_key_sent_the_wrong_way_gets_told_the_right_one(client: Client, keys: dict[str, str],
                                                         authorization: str | None) -> None:
    response = _listen(client, keys, key=None, headers={"Authorization": authorization} if authorization else {})
    _assert_deepgram_error(response, 401, "INVALID_AUTH")
    assert "'Authorization: Token YOUR_KEY'" in response.json()["err_msg"]


@pytest.mark.parametrize(("query", "body", "headers", "err_code", "says"), [
    ("", b"{not json", JSON, "Bad Request", "JSON"),
    ("", b'{"link": "x"}', JSON, "Bad Request", "url"),
    ("", b'{"url": "http://[::1]:9/a.wav"}', JSON, "Bad Request", "private or local address"),
    ("", b'{"url": "http://10.11.12.13/a.wav"}', JSON, "Bad Request", "private or local address"),
    ("?punctuate=maybe", WAV, {}, "INVALID_QUERY_PARAMETER", "punctuate"),
    ("?utt_split=nan", WAV, {}, "INVALID_QUERY_PARAMETER", "utt_split"),
    ("?format=docx", WAV, {}, "INVALID_QUERY_PARAMETER", "format"),
    ("?model=tiny-unheard-of", WAV, {}, "Bad Request", "No such model"),
    ("?model=whisper-/etc/passwd", WAV, {}, "Bad Request", "No such model"),
    ("?model=../ggml-micro.bin", WAV, {}, "Bad Request", "No such model"),
    ("?model=whisper-~/.bashrc", WAV, {}, "Bad Request", "No such model"),
    ("?model=/tmp/x.bin", WAV, {}, "Bad Request", "No such model"),
    ("", b"--b\r\nContent-Disposition: form-data; name=file; filename=a.wav\r\n\r\nRIFF\r\n--b--\r\n",
     {"Content-Type": "multipart/form-data; boundary=b"}, "Bad Request", "--data-binary"),
])
def test_bad_parameters_and_bodies_are_400_and_say_what_is_wrong(client: Client, keys: dict[str, str], query: str,
                                                                 body: bytes, headers: dict[str, str],
                                                                 err_code: str, says: str) -> None:
    response = _listen(client, keys, query=query, body=body, headers=headers)
    _assert_deepgram_error(response, 400, err_code)
    assert says in response.json()["err_msg"]


@pytest.mark.parametrize("path", ["/v1/listen", "/v1/auth/grant"])
def test_deeply_nested_json_is_a_400(client: Client, keys: dict[str, str], path: str) -> None:
    response = client.post(path, content=b"[" * 60000, headers={**JSON, "Authorization": f"Token {keys['admin']}"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [
    {"time_to_live_in_seconds": "abc"}, {"time_to_live_in_seconds": 1e20}, {"time_to_live_in_seconds": -5},
    {"scopes": 5}, {"expiration_date": "99999999999w"},
])
def test_bad_key_requests_are_400(client: Client, keys: dict[str, str], body: dict[str, object]) -> None:
    response = client.post(f"/v1/projects/{PROJECT_ID}/keys", json=body,
                           headers={"Authorization": f"Token {keys['admin']}"})
    assert response.status_code == 400, response.text


def test_management_needs_an_admin_key_not_a_token(client: Client, keys: dict[str, str]) -> None:
    refused = client.get("/v1/projects", headers={"Authorization": f"Token {keys['listen']}"})
    _assert_deepgram_error(refused, 403, "INSUFFICIENT_PERMISSIONS")
    token = client.post("/v1/auth/grant", json={}, headers={"Authorization": f"Token {keys['admin']}"})
    bearer = client.get("/v1/projects", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert bearer.status_code == 401  # temporary tokens never manage
    unknown = client.get("/v1/projects/nope/keys", headers={"Authorization": f"Token {keys['admin']}"})
    _assert_deepgram_error(unknown, 404, "PROJECT_NOT_FOUND")


def test_grant_ttl_is_checked(client: Client, keys: dict[str, str]) -> None:
    headers = {"Authorization": f"Token {keys['listen']}"}
    assert client.post("/v1/auth/grant", json={}, headers=headers).json()["expires_in"] == 30
    assert client.post("/v1/auth/grant", json={"ttl_seconds": 9999}, headers=headers).status_code == 400


def test_unknown_routes_are_json_404_and_the_schema_is_public(client: Client) -> None:
    _assert_deepgram_error(client.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert "/v1/listen" in client.get("/schema/openapi.json").json()["paths"]


def test_a_default_model_given_by_path_is_listed_without_the_path(client: Client, keys: dict[str, str],
                                                                   micro_model: Path) -> None:
    """The client fixture serves a model file outside the models folder, by its path."""
    token = {"Authorization": f"Token {keys['listen']}"}
    listed = client.get("/v1/models", headers=token)
    assert [model["name"] for model in listed.json()["stt"]] == ["micro"]
    assert str(micro_model.parent) not in listed.text
    assert client.get("/v1/models/micro", headers=token).json()["name"] == "micro"
