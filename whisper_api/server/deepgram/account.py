"""Deepgram's models and temporary tokens: ``GET /v1/models``, ``POST /v1/auth/grant``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar import Request, Response, get, post

from whisper_api.engine.info import languages
from whisper_api.models.identity import ModelRecord, record
from whisper_api.server.auth import Caller
from whisper_api.server.deps import KEY_ONLY, Auth, Pool, access
from whisper_api.server.errors import ApiError
from whisper_api.server.headers import request_id
from whisper_api.server.openapi import AUTHENTICATED, GrantOperation, errors
from whisper_api.server.workers import Workers


@post("/v1/auth/grant", status_code=200, operation_class=GrantOperation,
      responses=errors(*AUTHENTICATED, 400, 408, 413), opt=access(KEY_ONLY))
async def grant(request: Request[Any, Any, Any], auth: Auth, caller: Caller) -> Response[dict[str, object]]:
    """A short-lived token (JWT) for listening, as ``Authorization: Bearer <token>``."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise ApiError(400, "Bad Request", "Bad Request: the body must be JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request", "Bad Request: the body must be a JSON object.")
    ttl = body.get("ttl_seconds")
    return Response(auth.grant(caller, ttl), headers={"dg-request-id": request_id(request)})


def _languages(model: ModelRecord) -> list[str]:
    return languages() if model.multilingual else ["en"]


def _model_json(model: ModelRecord) -> dict[str, Any]:
    return {"name": model.name, "canonical_name": model.name, "architecture": "whisper",
            "languages": _languages(model), "version": model.version, "uuid": model.uuid, "batch": True,
            "streaming": True, "formatted_output": True}


def _served(workers: Workers) -> list[ModelRecord]:
    """The server's default model first (also when it is a file outside the models folder), then every
    other installed Whisper model."""
    default = record(workers.default_model, workers.models)
    installed = [record(entry.name, workers.models) for entry in workers.models.installed()
                 if entry.catalogue is None or entry.catalogue.kind == "whisper"]
    return [default, *(model for model in installed if model.path != default.path)]


@get("/v1/models", responses=errors(*AUTHENTICATED))
async def list_models(workers: Pool) -> dict[str, Any]:
    """The models this server runs, in Deepgram's shape (``stt``; no ``tts``)."""
    served = await asyncio.to_thread(_served, workers)  # globs the models folder and reads headers
    return {"stt": [_model_json(model) for model in served], "tts": []}


@get("/v1/models/{model_id:str}", responses=errors(*AUTHENTICATED, 400, 404))
async def get_model(workers: Pool, model_id: str) -> dict[str, Any]:
    for model in await asyncio.to_thread(_served, workers):
        if model_id in (model.uuid, model.name):
            return _model_json(model)
    raise ApiError(404, "MODEL_NOT_FOUND", f"No model '{model_id}' on this server.")
