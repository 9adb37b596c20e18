"""``POST /v1/listen``: Deepgram's pre-recorded transcription.

The body (raw audio of any container, or JSON ``{"url": ...}``) is spooled to a private
temporary file while its SHA-256 is computed, within the upload limit, then transcribed on a
worker (see transcribe.py). With ``callback=URL`` the audio is kept as a job instead, and the
client gets its request id at once (see jobs.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from litestar import Request, Response, post

from whisper_api.jobs.store import Job
from whisper_api.server.admission import CALLBACK_JOB
from whisper_api.server.auth import Caller
from whisper_api.server.callbacks import JobResult, callback_of
from whisper_api.server.deepgram.model_names import whisper_name
from whisper_api.server.deepgram.params import parse_listen
from whisper_api.server.deepgram.results import listen_result
from whisper_api.server.deps import TRANSCRIBE, access
from whisper_api.server.errors import BAD_AUDIO, BAD_JSON, ApiError, bad_request
from whisper_api.server.fetch import fetch_url
from whisper_api.server.headers import request_id, response_media_type
from whisper_api.server.openapi import TRANSCRIBING, ListenOperation, errors
from whisper_api.server.spool import Spooled, spool
from whisper_api.server.state import Server, ServerState
from whisper_api.server.transcribe import transcribe_file, transcribe_spooled

MAX_JSON_BYTES = 64 * 1024


@post("/v1/listen", request_max_body_size=None, status_code=200, operation_class=ListenOperation,
      responses=errors(*TRANSCRIBING), opt=access(TRANSCRIBE))
async def listen(request: Request[Any, Any, Any], server: Server, caller: Caller) -> Response[Any]:
    rid = request_id(request)
    query = request.query_params.dict()
    params = parse_listen(query)
    model_name = whisper_name(params.model, server.settings.model, server.models)
    callback = await callback_of(query, server.allowed_hosts)
    if callback is not None:
        async with server.job_runner.job_dir(rid) as job_dir:
            fetched = await _receive(request, job_dir / "audio", server)
            await server.job_runner.submit(rid, caller.key_id, query, fetched, callback)
        return Response({"request_id": rid}, headers={"dg-request-id": rid})
    with tempfile.TemporaryDirectory(prefix="whisper-api-request-") as work:
        fetched = await _receive(request, Path(work) / "audio", server)
        transcript = await transcribe_spooled(request, server, fetched.path, params.transcribe, params.raw,
                                                model_name)
    await server.record_usage(caller.key_id, transcript.duration, rid)
    result = await listen_result(server, transcript, params, model_name, rid, fetched.sha256)
    headers = {"dg-request-id": rid}
    if result.filename:
        headers["content-disposition"] = f'inline; filename="{result.filename}"'
    return Response(result.body, media_type=response_media_type(result.media_type), headers=headers)


async def _receive(request: Request[Any, Any, Any], dest: Path, server: ServerState) -> Spooled:
    fetched = await (_receive_url(request, dest, server) if _is_json(request)
                     else spool(request.stream(), dest, server.max_bytes, "Request body"))
    if fetched.size == 0:
        raise bad_request(BAD_AUDIO)
    return fetched


def _is_json(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def _receive_url(request: Request[Any, Any, Any], dest: Path, server: ServerState) -> Spooled:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "JSON body is too large.")
    try:
        url = json.loads(body).get("url")
    except (ValueError, AttributeError, RecursionError):
        raise ApiError(400, "Bad Request", BAD_JSON) from None
    if not isinstance(url, str) or not url:
        raise bad_request("Bad Request: the JSON body must have a url.")
    return await fetch_url(url, dest, server.max_bytes, server.settings.request_timeout, server.allowed_hosts)


async def transcribe_callback_job(server: ServerState, job: Job, audio: Path) -> JobResult:
    """A ``callback=`` job's request, transcribed now as it would have been at once (see jobs.py)."""
    params = parse_listen(json.loads(job.query))
    model_name = whisper_name(params.model, server.settings.model, server.models)
    transcript = await transcribe_file(server, audio, params.transcribe, params.raw, model_name, CALLBACK_JOB)
    result = await listen_result(server, transcript, params, model_name, job.id, job.sha256)
    return JobResult(result.body, result.media_type, transcript.duration)
