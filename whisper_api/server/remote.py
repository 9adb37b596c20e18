"""Synchronous requests on the task queue's workers (``serve --remote-workers``).

The server puts the request's audio in ``spool_dir/requests`` and sends a task to a queue of its
own, which workers take ahead of callback jobs and batch files (they read their queues in order);
it waits for the worker's answer (pushed to a Redis list it pops at once; unread, it lapses after
the request timeout) and answers as if it had transcribed. Before sending, it looks at how
many requests wait already for a worker: at ``queue_size`` (or one, when that is 0), 429 with a
Retry-After. A task not started
within the request timeout expires (its client had its 504), and a client that disconnects
withdraws its waiting task. Options and transcripts cross as plain JSON, field by field.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from whisper_api.audio import RawFormat
from whisper_api.options import DiarizeOptions, SpeakerCount, TranscribeOptions
from whisper_api.server.errors import ApiError, too_many
from whisper_api.server.queue import (
    BROKER_SOCKET_SECONDS,
    REQUEST_TASK,
    REQUESTS_QUEUE,
    celery_app,
    queue_depth,
    redis_url,
)
from whisper_api.settings import Settings
from whisper_api.transcript import Segment, SpeakerTurn, Transcript, Word

REQUESTS_FOLDER = "requests"
WAIT_TURN = BROKER_SOCKET_SECONDS / 2
"""Seconds one blocking pop of the answer may wait (less than the connection's socket timeout)."""
RETRY_SECONDS = 5
REPLY_PREFIX = "whisper-api:reply:"
UNAVAILABLE = (KombuError, RedisError, OSError)


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
        import redis.asyncio

        self.app = celery_app(settings)
        self.answers = redis.asyncio.from_url(redis_url(settings), socket_timeout=BROKER_SOCKET_SECONDS,
                                              socket_connect_timeout=BROKER_SOCKET_SECONDS)
        self.spool = requests_folder(settings)
        self.queue_size, self.timeout = settings.queue_size, settings.request_timeout

    async def transcribe(self, source: Path, options: TranscribeOptions, raw: RawFormat | None) -> Transcript:
        request_id = uuid.uuid4().hex
        audio, reply = self.spool / f"{request_id}{source.suffix[:10]}", REPLY_PREFIX + request_id
        sent: str | None = None
        try:
            if await asyncio.to_thread(queue_depth, self.app, REQUESTS_QUEUE) >= max(self.queue_size, 1):
                raise too_many(RETRY_SECONDS)
            await asyncio.to_thread(_copy, source, audio)
            task = await asyncio.to_thread(
                self.app.send_task, REQUEST_TASK, queue=REQUESTS_QUEUE, expires=self.timeout,
                args=[audio.name, options_data(options), raw and dataclasses.asdict(raw), reply])
            sent = task.id
            answer = await asyncio.wait_for(self._answer(reply), self.timeout)
            sent = None  # answered: nothing to withdraw
        except TimeoutError:
            raise ApiError(504, "GATEWAY_TIMEOUT", f"Transcription took longer than {self.timeout:g} s.") from None
        except UNAVAILABLE as exc:
            raise ApiError(503, "SERVICE_UNAVAILABLE", "Service Unavailable: the task queue cannot be reached "
                           f"({type(exc).__name__}).", {"Retry-After": str(RETRY_SECONDS)}) from None
        finally:
            audio.unlink(missing_ok=True)  # the worker removes it too; whoever comes second finds nothing
            if sent is not None:
                await self._withdraw(sent, reply)
        if "error" in answer:
            error = answer["error"]
            raise ApiError(error["status"], error["code"], error["message"], error["headers"])
        return transcript_from(answer["transcript"])

    async def _answer(self, reply: str) -> dict[str, Any]:
        """The worker's answer, the moment it is pushed (a blocking pop, in turns shorter than the
        client's socket timeout)."""
        while (popped := await self.answers.blpop([reply], timeout=WAIT_TURN)) is None:
            pass
        answer: dict[str, Any] = json.loads(popped[1])
        return answer

    async def _withdraw(self, task_id: str, reply: str) -> None:
        """Given up on (a timeout, the client gone): a task not started yet is dropped; a running one
        finishes, and its answer lapses after the request timeout."""
        with contextlib.suppress(*UNAVAILABLE):
            await asyncio.shield(asyncio.to_thread(self.app.control.revoke, task_id))

    async def close(self) -> None:
        await self.answers.aclose()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
