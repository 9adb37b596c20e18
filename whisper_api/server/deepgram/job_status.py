"""``GET /v1/listen/jobs/{request_id}``: how a callback job stands, for clients that poll."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from litestar import get

from whisper_api.errors import JobNotFoundError
from whisper_api.jobs.store import DELIVERING, DONE, FAILED, Job
from whisper_api.server.auth import Caller
from whisper_api.server.deps import Jobs
from whisper_api.server.errors import JSON_TYPE, ApiError
from whisper_api.server.openapi import AUTHENTICATED, errors


def public_url(url: str) -> str:
    """The callback without credentials or query (either may hold a secret of the receiver's)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def job_json(job: Job) -> dict[str, Any]:
    result: Any = job.result
    if result is not None and (job.result_type or "").startswith(JSON_TYPE):
        result = json.loads(result)
    return {"request_id": job.id, "status": job.status, "created": _iso(job.created_at),
            "updated": _iso(job.updated_at), "callback": public_url(job.callback),
            "callback_method": job.callback_method, "attempts": job.attempts,
            "next_attempt": _iso(job.next_attempt_at), "error": job.error, "delivery_error": job.delivery_error,
            "result": result if job.status in (DELIVERING, DONE, FAILED) else None}


@get("/v1/listen/jobs/{job_id:str}", responses=errors(*AUTHENTICATED, 400, 404))
async def get_job(jobs: Jobs, caller: Caller, job_id: str) -> dict[str, Any]:
    """A callback job's state, for clients that poll; a key sees its own jobs, an admin key all."""
    try:
        job = await asyncio.to_thread(jobs.get, job_id)
    except JobNotFoundError:
        job = None
    if job is None or (caller.key_id is not None and job.key_id != caller.key_id and "admin" not in caller.scopes):
        raise ApiError(404, "REQUEST_NOT_FOUND", "No job with this request id.")
    return job_json(job)
