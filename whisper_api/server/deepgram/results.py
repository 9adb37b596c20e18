"""The body of a ``/v1/listen`` result, the same for the HTTP response and for a callback."""

from __future__ import annotations

import json
from dataclasses import dataclass

from whisper_api.formats.deepgram import ResponseMeta, to_deepgram
from whisper_api.formats.subrip import to_srt
from whisper_api.formats.text import to_text
from whisper_api.formats.webvtt import to_vtt
from whisper_api.keys import utc_now
from whisper_api.models.identity import ModelRecord
from whisper_api.server.deepgram.params import CAPTION_FORMATS, ListenRequest
from whisper_api.server.errors import JSON_TYPE
from whisper_api.server.headers import UTF8
from whisper_api.transcript import Transcript


@dataclass(frozen=True)
class ListenResult:
    body: bytes
    media_type: str
    filename: str | None = None
    """For caption formats: the name browsers save the file under."""


def listen_result(model: ModelRecord, transcript: Transcript, params: ListenRequest, request_id: str,
                        sha256: str) -> ListenResult:
    if params.caption_format is not None:
        return _caption(transcript, params.caption_format)
    meta = ResponseMeta(request_id, sha256, utc_now(), model.uuid, model.name, model.version)
    body = json.dumps(to_deepgram(transcript, params.response, meta), ensure_ascii=False, separators=(",", ":"))
    return ListenResult(body.encode(), JSON_TYPE)


def _caption(transcript: Transcript, caption_format: str) -> ListenResult:
    """The same formatters as the CLI's."""
    formatter = {"srt": to_srt, "vtt": to_vtt, "text": to_text}[caption_format]
    suffix = "txt" if caption_format == "text" else caption_format
    return ListenResult(formatter(transcript).encode(), CAPTION_FORMATS[caption_format] + UTF8,
                        f"transcript.{suffix}")
