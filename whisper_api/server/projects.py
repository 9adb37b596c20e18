"""Deepgram's management API, mapped onto the key store, so the SDKs' ``manage`` calls work.

The server is one project. Keys created here are the same keys ``whisper-api keys`` manages;
Deepgram scopes ``admin`` and ``owner`` become our ``admin``, every other scope ``listen``.
These endpoints need an admin key (never a temporary token).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, delete, get, post

from whisper_api.errors import WhisperApiError
from whisper_api.keys import ApiKey, KeyStore, parse_expiry, utc_now
from whisper_api.server.errors import ApiError, bad_request
from whisper_api.server.state import Server

PROJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "whisper-api:project"))
PROJECT_NAME = "whisper-api"
MEMBER = {"member_id": "whisper-api", "email": "admin@localhost"}
MAX_TTL_SECONDS = 100 * 365 * 86400


async def _admin_store(request: Request[Any, Any, Any], server: Server, project_id: str | None = None) -> KeyStore:
    await server.auth.caller(request.headers.get("authorization"), "admin", allow_temporary=False)
    if server.store is None:
        raise bad_request("Bad Request: key management needs authentication on (the server runs with --no-auth).")
    if project_id is not None and project_id != PROJECT_ID:
        raise ApiError(404, "PROJECT_NOT_FOUND", "Project not found.")
    return server.store


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {"api_key_id": key.id, "comment": key.name, "scopes": list(key.scopes), "created": _iso(key.created_at),
            "expiration_date": _iso(key.expires_at), "tags": []}


@get("/v1/projects")
async def list_projects(request: Request[Any, Any, Any], server: Server) -> dict[str, Any]:
    await _admin_store(request, server)
    return {"projects": [{"project_id": PROJECT_ID, "name": PROJECT_NAME}]}


@get("/v1/projects/{project_id:str}")
async def get_project(request: Request[Any, Any, Any], server: Server, project_id: str) -> dict[str, Any]:
    await _admin_store(request, server, project_id)
    return {"project_id": PROJECT_ID, "name": PROJECT_NAME, "mip_opt_out": True}


@get("/v1/projects/{project_id:str}/keys")
async def list_keys(request: Request[Any, Any, Any], server: Server, project_id: str,
                    status: str | None = None) -> dict[str, Any]:
    store = await _admin_store(request, server, project_id)
    now = utc_now()
    keys = [key for key in await asyncio.to_thread(store.list) if key.status(now) != "revoked"]
    if status in ("active", "expired"):
        keys = [key for key in keys if key.status(now) == status]
    return {"api_keys": [{"member": MEMBER, "api_key": _key_json(key)} for key in keys]}


@post("/v1/projects/{project_id:str}/keys", status_code=200)
async def create_key(request: Request[Any, Any, Any], server: Server, project_id: str) -> dict[str, Any]:
    store = await _admin_store(request, server, project_id)
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        raise bad_request("Bad Request: the body must be JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("Bad Request: the body must be a JSON object.")
    requested = body.get("scopes") or ["member"]
    requested = [requested] if isinstance(requested, str) else requested
    if not isinstance(requested, list) or not all(isinstance(scope, str) for scope in requested):
        raise bad_request("Bad Request: scopes must be a list of strings.")
    scopes = tuple(dict.fromkeys("admin" if scope in ("admin", "owner") else "listen" for scope in requested))
    try:
        expires = _expiry(body)
        key, token = await asyncio.to_thread(store.create, str(body.get("comment", "")), scopes, expires)
    except WhisperApiError as exc:
        raise bad_request(f"Bad Request: {exc}") from None
    return {**_key_json(key), "key": token.text}


def _expiry(body: dict[str, Any]) -> datetime | None:
    ttl = body.get("time_to_live_in_seconds")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_TTL_SECONDS:
            raise bad_request(f"Bad Request: time_to_live_in_seconds must be a number from 1 to {MAX_TTL_SECONDS}.")
        return utc_now() + timedelta(seconds=ttl)
    if body.get("expiration_date"):
        return parse_expiry(str(body["expiration_date"]).replace("Z", "+00:00"), utc_now())
    return None


@get("/v1/projects/{project_id:str}/keys/{key_id:str}")
async def get_key(request: Request[Any, Any, Any], server: Server, project_id: str, key_id: str) -> dict[str, Any]:
    store = await _admin_store(request, server, project_id)
    key = await _found(store, key_id)
    return {"item": {"member": {**MEMBER, "first_name": "", "last_name": "", "api_key": _key_json(key)}}}


@delete("/v1/projects/{project_id:str}/keys/{key_id:str}", status_code=200)
async def delete_key(request: Request[Any, Any, Any], server: Server, project_id: str, key_id: str) -> dict[str, str]:
    store = await _admin_store(request, server, project_id)
    await _found(store, key_id)
    await asyncio.to_thread(store.revoke, key_id)
    return {"message": f"API key {key_id} was revoked."}


async def _found(store: KeyStore, key_id: str) -> ApiKey:
    try:
        return await asyncio.to_thread(store.get, key_id)
    except WhisperApiError:
        raise ApiError(404, "KEY_NOT_FOUND", "API key not found.") from None
