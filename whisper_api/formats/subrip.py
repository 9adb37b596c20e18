"""SubRip (.srt) captions, composed by the ``srt`` library."""

from __future__ import annotations

from datetime import timedelta

import srt

from whisper_api.formats.captions import build_cues
from whisper_api.transcript import Transcript


def to_srt(transcript: Transcript) -> str:
    subtitles = [
        srt.Subtitle(index, timedelta(seconds=cue.start), timedelta(seconds=cue.end), cue.text)
        for index, cue in enumerate(build_cues(transcript), start=1)
    ]
    return str(srt.compose(subtitles))
