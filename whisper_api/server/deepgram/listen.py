"""``POST /v1/listen``: Deepgram's pre-recorded transcription.

The body (raw audio of any container, or JSON ``{"url": ...}``) is spooled to a private
temporary file while its SHA-256 is computed, within the upload limit, then transcribed on a
worker (see workers.py). With ``callback=URL`` the audio is kept as a job instead, and the
client gets its request id at once (see jobs.py).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, post

from whisper_api.jobs.store import Job
from whisper_api.options import TranscribeOptions
from whisper_api.server.admission import CALLBACK_JOB
from whisper_api.server.auth import Caller
from whisper_api.server.callbacks import JobResult, callback_of
from whisper_api.server.deepgram.model_names import whisper_name
from whisper_api.server.deepgram.params import ListenRequest, parse_listen
from whisper_api.server.deepgram.results import listen_result
from whisper_api.server.deps import TRANSCRIBE, Config, Hosts, Pool, Runner, Usage, access
from whisper_api.server.errors import BAD_AUDIO, BAD_JSON, ApiError, bad_request
from whisper_api.server.fetch import AllowList, fetch_url
from whisper_api.server.headers import request_id, response_media_type
from whisper_api.server.openapi import TRANSCRIBING, ListenOperation, errors
from whisper_api.server.spool import Spooled, spool
from whisper_api.server.workers import Workers

MAX_JSON_BYTES = 64 * 1024
FORM_BODY = ("Bad Request: the body must be the audio itself, not a form: curl --data-binary @talk.wav "
             "-H 'Content-Type: audio/wav' (or send JSON {\"url\": ...}); form uploads go to /v1/audio/transcriptions.")


@post("/v1/listen", request_max_body_size=None, status_code=200, operation_class=ListenOperation,
      responses=errors(*TRANSCRIBING), opt=access(TRANSCRIBE))
async def listen(request: Request[Any, Any, Any], caller: Caller, workers: Pool, settings: Config, usage: Usage,
                 job_runner: Runner, allowed_hosts: Hosts) -> Response[Any]:
    rid = request_id(request)
    query = request.query_params.dict()
    params = parse_listen(query)
    options = _options(params, workers)
    receive = Receiver(settings.max_upload_bytes, settings.request_timeout, allowed_hosts)
    callback = await callback_of(query, allowed_hosts)
    if callback is not None:
        async with job_runner.job_dir(rid) as job_dir:
            fetched = await receive(request, job_dir / "audio")
            await job_runner.submit(rid, caller.key_id, query, fetched, callback)
        return Response({"request_id": rid}, headers={"dg-request-id": rid})
    with tempfile.TemporaryDirectory(prefix="whisper-api-request-") as work:
        fetched = await receive(request, Path(work) / "audio")
        transcript = await workers.transcribe_for(request, fetched.path, options, params.raw)
    await usage(caller.key_id, transcript.duration, rid)
    result = listen_result(await workers.model(options.model), transcript, params, rid, fetched.sha256)
    headers = {"dg-request-id": rid}
    if result.filename:
        headers["content-disposition"] = f'inline; filename="{result.filename}"'
    return Response(result.body, media_type=response_media_type(result.media_type), headers=headers)


def _options(params: ListenRequest, workers: Workers) -> TranscribeOptions:
    """The request's options, with the Whisper model its ``model`` parameter names."""
    return dataclasses.replace(params.transcribe,
                               model=whisper_name(params.model, workers.default_model, workers.models))


@dataclass(frozen=True)
class Receiver:
    """Spools a request's audio: its body, or the audio at the URL its JSON body names."""

    max_bytes: int
    timeout: float
    allowed_hosts: AllowList

    async def __call__(self, request: Request[Any, Any, Any], dest: Path) -> Spooled:
        if _media_type(request) == "multipart/form-data":  # curl -F: a form, where Deepgram wants the audio
            raise bad_request(FORM_BODY)
        fetched = await (self._from_url(request, dest) if _media_type(request) == "application/json"
                         else spool(request.stream(), dest, self.max_bytes, "Request body"))
        if fetched.size == 0:
            raise bad_request(BAD_AUDIO)
        return fetched

    async def _from_url(self, request: Request[Any, Any, Any], dest: Path) -> Spooled:
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
        return await fetch_url(url, dest, self.max_bytes, self.timeout, self.allowed_hosts)


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def transcribe_callback_job(workers: Workers, job: Job, audio: Path) -> JobResult:
    """A ``callback=`` job's request, transcribed now as it would have been at once (see jobs.py)."""
    params = parse_listen(json.loads(job.query))
    options = _options(params, workers)
    transcript = await workers.transcribe(audio, options, params.raw, CALLBACK_JOB)
    result = listen_result(await workers.model(options.model), transcript, params, job.id, job.sha256)
    return JobResult(result.body, result.media_type, transcript.duration)
