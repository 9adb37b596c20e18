"""SubRip (.srt) captions, composed by the ``srt`` library."""

from __future__ import annotations

from datetime import timedelta

import srt

from whisper_api.formats.captions import Cue, build_cues
from whisper_api.transcript import Transcript


def _text(cue: Cue) -> str:
    """The cue's lines; a diarized cue starts with its speaker, the usual SubRip convention."""
    return cue.text if cue.speaker is None else f"[Speaker {cue.speaker}] {cue.text}"


def to_srt(transcript: Transcript) -> str:
    subtitles = [
        srt.Subtitle(index, timedelta(seconds=cue.start), timedelta(seconds=cue.end), _text(cue))
        for index, cue in enumerate(build_cues(transcript), start=1)
    ]
    return str(srt.compose(subtitles))
