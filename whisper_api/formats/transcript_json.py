"""whisper-api's own JSON: the Transcript as it is, segments with their words."""

from __future__ import annotations

import json
from typing import Any

from whisper_api.transcript import Transcript


def to_dict(transcript: Transcript) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "language": transcript.language,
        "language_confidence": transcript.language_confidence,
        "duration": transcript.duration,
        "channels": transcript.channels,
        "model": transcript.model,
        "segments": [
            {
                "start": segment.start,
                "end": segment.end,
                "channel": segment.channel,
                "text": segment.text,
                "confidence": round(segment.confidence, 4),
                "words": [
                    {"word": word.text, "start": word.start, "end": word.end,
                     "confidence": round(word.confidence, 4)}
                    for word in segment.words
                ],
            }
            for segment in transcript.segments
        ],
    }


def to_json(transcript: Transcript) -> str:
    return json.dumps(to_dict(transcript), ensure_ascii=False, indent=2) + "\n"
