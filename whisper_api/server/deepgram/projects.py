"""Deepgram's management API, mapped onto the key store, so the SDKs' ``manage`` calls work.

The server is one project. Keys created here are the same keys ``whisper-api keys`` manages;
Deepgram scopes ``admin`` and ``owner`` become our ``admin``, every other scope ``listen``.
These endpoints need an admin key (never a temporary token).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from litestar import Request, delete, get, post

from whisper_api.errors import InvalidOptionError, KeyNotFoundError, KeyStoreError
from whisper_api.keys import ApiKey, DayUsage, KeyStore, parse_expiry, utc_now
from whisper_api.server.deps import ADMIN, Keys, access
from whisper_api.server.errors import ApiError, bad_request
from whisper_api.server.openapi import MANAGING, CreateKeyOperation, UsageOperation, errors

PROJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "whisper-api:project"))
PROJECT_NAME = "whisper-api"
MEMBER = {"member_id": "whisper-api", "email": "admin@localhost"}
MAX_TTL_SECONDS = 100 * 365 * 86400
USAGE_DAYS = 30


def _check_project(project_id: str) -> None:
    if project_id != PROJECT_ID:
        raise ApiError(404, "PROJECT_NOT_FOUND", "Project not found.")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {"api_key_id": key.id, "comment": key.name, "scopes": list(key.scopes), "created": _iso(key.created_at),
            "expiration_date": _iso(key.expires_at), "tags": []}


@get("/v1/projects", responses=errors(*MANAGING), opt=access(ADMIN))
async def list_projects(key_store: Keys) -> dict[str, Any]:
    return {"projects": [{"project_id": PROJECT_ID, "name": PROJECT_NAME}]}


@get("/v1/projects/{project_id:str}", responses=errors(*MANAGING), opt=access(ADMIN))
async def get_project(key_store: Keys, project_id: str) -> dict[str, Any]:
    _check_project(project_id)
    return {"project_id": PROJECT_ID, "name": PROJECT_NAME, "mip_opt_out": True}


@get("/v1/projects/{project_id:str}/keys", responses=errors(*MANAGING), opt=access(ADMIN))
async def list_keys(request: Request[Any, Any, Any], key_store: Keys, project_id: str) -> dict[str, Any]:
    _check_project(project_id)
    status = request.query_params.get("status")
    now = utc_now()
    keys = [key for key in await asyncio.to_thread(key_store.list) if key.status(now) != "revoked"]
    if status in ("active", "expired"):
        keys = [key for key in keys if key.status(now) == status]
    return {"api_keys": [{"member": MEMBER, "api_key": _key_json(key)} for key in keys]}


@post("/v1/projects/{project_id:str}/keys", status_code=200, responses=errors(*MANAGING, 408, 413),
      operation_class=CreateKeyOperation)
async def create_key(request: Request[Any, Any, Any], key_store: Keys, project_id: str) -> dict[str, Any]:
    _check_project(project_id)
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
        key, token = await asyncio.to_thread(key_store.create, str(body.get("comment", "")), scopes, expires)
    except (KeyStoreError, InvalidOptionError) as exc:  # a database failure is no bad request: it goes on (503)
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


@get("/v1/projects/{project_id:str}/keys/{key_id:str}", responses=errors(*MANAGING), opt=access(ADMIN))
async def get_key(key_store: Keys, project_id: str, key_id: str) -> dict[str, Any]:
    _check_project(project_id)
    key = await _found(key_store, key_id)
    return {"item": {"member": {**MEMBER, "first_name": "", "last_name": "", "api_key": _key_json(key)}}}


@delete("/v1/projects/{project_id:str}/keys/{key_id:str}", status_code=200, responses=errors(*MANAGING),
        opt=access(ADMIN))
async def delete_key(key_store: Keys, project_id: str, key_id: str) -> dict[str, str]:
    _check_project(project_id)
    await _found(key_store, key_id)
    await asyncio.to_thread(key_store.revoke, key_id)
    return {"message": f"API key {key_id} was revoked."}


async def _found(store: KeyStore, key_id: str) -> ApiKey:
    try:
        return await asyncio.to_thread(store.get, key_id)
    except KeyNotFoundError:
        raise ApiError(404, "KEY_NOT_FOUND", "API key not found.") from None


@get("/v1/projects/{project_id:str}/usage", responses=errors(*MANAGING), opt=access(ADMIN),
     operation_class=UsageOperation)
async def get_usage(request: Request[Any, Any, Any], key_store: Keys, project_id: str) -> dict[str, Any]:
    """Deepgram's usage summary: hours and requests per day, for every key or one (``accessor``)."""
    _check_project(project_id)
    start, end, accessor = (request.query_params.get(name) for name in ("start", "end", "accessor"))
    last = _date(end, "end") if end else utc_now().date()
    first = _date(start, "start") if start else last - timedelta(days=USAGE_DAYS - 1)
    if accessor:
        await _found(key_store, accessor)
    days = await asyncio.to_thread(key_store.usage, accessor or None, first, last)
    return {"start": first.isoformat(), "end": last.isoformat(), "resolution": {"units": "day", "amount": 1},
            "results": _per_day(days)}


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise bad_request(f"Bad Request: {name} must be a date, YYYY-MM-DD.") from None


def _per_day(days: list[DayUsage]) -> list[dict[str, Any]]:
    requests: dict[date, int] = defaultdict(int)
    seconds: dict[date, float] = defaultdict(float)
    for day in days:
        requests[day.day] += day.requests
        seconds[day.day] += day.audio_seconds
    return [{"start": day.isoformat(), "end": day.isoformat(), "hours": round(seconds[day] / 3600, 6),
             "total_hours": round(seconds[day] / 3600, 6), "requests": requests[day]} for day in sorted(requests)]
