"""Synchronous requests on the task queue's workers (``serve --remote-workers``).

The server puts the request's audio in ``spool_dir/requests`` and sends a task to a queue of its
own, which workers take ahead of callback jobs and batch files (they read their queues in order);
it waits for the result and answers as if it had transcribed. Before sending, it looks at how
many requests wait already for a worker: at ``queue_size`` (or one, when that is 0), 429 with a
Retry-After. A task not started
within the request timeout expires (its client had its 504), and a client that disconnects
withdraws its waiting task. Options and transcripts cross as plain JSON, field by field.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import uuid
from pathlib import Path
from typing import Any

from celery.result import AsyncResult
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from whisper_api.audio import RawFormat
from whisper_api.options import DiarizeOptions, SpeakerCount, TranscribeOptions
from whisper_api.server.errors import ApiError, too_many
from whisper_api.server.queue import REQUEST_TASK, REQUESTS_QUEUE, celery_app, queue_depth
from whisper_api.settings import Settings
from whisper_api.transcript import Segment, SpeakerTurn, Transcript, Word

REQUESTS_FOLDER = "requests"
FIRST_POLL, LAST_POLL = 0.01, 0.2
"""Seconds between looks at a waiting task's result: short at first (most requests are short)."""
RETRY_SECONDS = 5


def options_data(options: TranscribeOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)


def options_from(data: dict[str, Any]) -> TranscribeOptions:
    diarize = data.get("diarize")
    speakers = DiarizeOptions(diarize["mode"], SpeakerCount(**diarize["speakers"])) if diarize else None
    return TranscribeOptions(**{**data, "diarize": speakers})


def transcript_data(transcript: Transcript) -> dict[str, Any]:
    return dataclasses.asdict(transcript)


def transcript_from(data: dict[str, Any]) -> Transcript:
    segments = tuple(Segment(segment["start"], segment["end"], tuple(Word(**word) for word in segment["words"]),
                             segment["channel"]) for segment in data["segments"])
    turns = tuple(SpeakerTurn(**turn) for turn in data["speaker_turns"])
    return Transcript(**{**data, "segments": segments, "speaker_turns": turns, "warnings": tuple(data["warnings"])})


def requests_folder(settings: Settings) -> Path:
    return settings.spool_dir / REQUESTS_FOLDER


def error_data(error: ApiError) -> dict[str, Any]:
    return {"status": error.status, "code": error.err_code, "message": error.err_msg, "headers": error.headers}


class RemoteWorkers:
    """The server's side: send, wait, answer."""

    def __init__(self, settings: Settings) -> None:
        self.app = celery_app(settings, results=True)
        self.spool = requests_folder(settings)
        self.queue_size, self.timeout = settings.queue_size, settings.request_timeout

    async def transcribe(self, source: Path, options: TranscribeOptions, raw: RawFormat | None) -> Transcript:
        audio = self.spool / f"{uuid.uuid4().hex}{source.suffix[:10]}"
        try:
            if await asyncio.to_thread(queue_depth, self.app, REQUESTS_QUEUE) >= max(self.queue_size, 1):
                raise too_many(RETRY_SECONDS)
            await asyncio.to_thread(_copy, source, audio)
            result = await asyncio.to_thread(
                self.app.send_task, REQUEST_TASK, queue=REQUESTS_QUEUE, expires=self.timeout,
                args=[audio.name, options_data(options), raw and dataclasses.asdict(raw)])
        except (KombuError, RedisError, OSError) as exc:
            audio.unlink(missing_ok=True)
            raise ApiError(503, "SERVICE_UNAVAILABLE", "Service Unavailable: the task queue cannot be reached "
                           f"({type(exc).__name__}).", {"Retry-After": str(RETRY_SECONDS)}) from None
        try:
            payload = await asyncio.wait_for(self._result(result), self.timeout)
        except TimeoutError:
            raise ApiError(504, "GATEWAY_TIMEOUT", f"Transcription took longer than {self.timeout:g} s.") from None
        except asyncio.CancelledError:  # the client left: a task not yet started is dropped
            with contextlib.suppress(KombuError, RedisError, OSError):
                await asyncio.to_thread(result.revoke)
            raise
        finally:
            audio.unlink(missing_ok=True)  # the worker removes it too; whoever comes second finds nothing
            with contextlib.suppress(KombuError, RedisError, OSError):  # else it expires with the other results
                await asyncio.to_thread(result.forget)
        if "error" in payload:
            error = payload["error"]
            raise ApiError(error["status"], error["code"], error["message"], error["headers"])
        return transcript_from(payload["transcript"])

    async def _result(self, result: AsyncResult) -> dict[str, Any]:
        wait = FIRST_POLL
        while not await asyncio.to_thread(result.ready):
            await asyncio.sleep(wait)
            wait = min(wait * 2, LAST_POLL)
        payload = result.result
        if not isinstance(payload, dict):  # the task itself failed (a worker fault, not the audio's)
            raise ApiError(500, "INTERNAL_SERVER_ERROR", "Internal Server Error: the worker failed.")
        return payload


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
