"""Deepgram's streaming messages (``/v1/listen`` WebSocket), built from live events.

``Results`` carry the same word forms as pre-recorded responses (see deepgram.py), with
``channel_index`` as ``[channel, channels]`` and the model in every message's metadata.
Pure functions: the caller passes the request's metadata and the clock's readings.
"""

from __future__ import annotations

from typing import Any

from whisper_api.formats.deepgram import DeepgramOptions, ResponseMeta, alternative, metadata, model_info
from whisper_api.streaming.events import SpeechStarted, StreamEvent, StreamResult, UtteranceEnd


def results(result: StreamResult, options: DeepgramOptions, meta: ResponseMeta) -> dict[str, Any]:
    return {
        "type": "Results",
        "channel_index": [result.channel, result.channels],
        "duration": result.duration,
        "start": result.start,
        "is_final": result.is_final,
        "speech_final": result.speech_final,
        "from_finalize": result.from_finalize,
        "channel": {"alternatives": [alternative(result.words, options)]},
        "metadata": {"request_id": meta.request_id, "model_info": model_info(meta), "model_uuid": meta.model_uuid},
    }


def event_message(event: StreamEvent, options: DeepgramOptions, meta: ResponseMeta) -> dict[str, Any]:
    if isinstance(event, StreamResult):
        return results(event, options, meta)
    if isinstance(event, SpeechStarted):
        return {"type": "SpeechStarted", "channel": [event.channel, event.channels], "timestamp": event.timestamp}
    assert isinstance(event, UtteranceEnd)
    return {"type": "UtteranceEnd", "channel": [event.channel, event.channels], "last_word_end": event.last_word_end}


def closing_metadata(meta: ResponseMeta, duration: float, channels: int) -> dict[str, Any]:
    """The Metadata sent before the close; without model fields when no audio came (as Deepgram does)."""
    message = {"type": "Metadata", **metadata(meta, round(duration, 6), channels)}
    if duration == 0:
        del message["models"], message["model_info"]
    return message


def error_message(variant: str, description: str, original: str | None = None) -> dict[str, Any]:
    message = {"type": "Error", "variant": variant, "description": description}
    if original is not None:
        message["message"] = original
    return message
