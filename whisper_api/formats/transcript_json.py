"""whisper-api's own JSON: the Transcript as it is, segments with their words."""

from __future__ import annotations

import json
from typing import Any

from whisper_api.transcript import Transcript, Word


def _word(word: Word) -> dict[str, Any]:
    data: dict[str, Any] = {"word": word.text, "start": word.start, "end": word.end,
                            "confidence": round(word.confidence, 4)}
    if word.speaker is not None:
        data["speaker"] = word.speaker
        data["speaker_confidence"] = word.speaker_confidence
    return data


def _diarization(transcript: Transcript) -> dict[str, Any]:
    return {"speakers": transcript.speakers,
            "speaker_turns": [{"start": turn.start, "end": turn.end, "speaker": turn.speaker,
                               "confidence": round(turn.confidence, 4)}
                              for turn in transcript.speaker_turns]}


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
                "words": [_word(word) for word in segment.words],
            }
            for segment in transcript.segments
        ],
        **(_diarization(transcript) if transcript.diarized else {}),
    }


def to_json(transcript: Transcript) -> str:
    return json.dumps(to_dict(transcript), ensure_ascii=False, indent=2) + "\n"
