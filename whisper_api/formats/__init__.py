"""Output formats: pure functions from a Transcript to text."""

from collections.abc import Callable

from whisper_api.formats.subrip import to_srt
from whisper_api.formats.text import to_text
from whisper_api.formats.transcript_json import to_json
from whisper_api.formats.webvtt import to_vtt
from whisper_api.transcript import Transcript

Formatter = Callable[[Transcript], str]

FORMATTERS: dict[str, Formatter] = {"txt": to_text, "json": to_json, "srt": to_srt, "vtt": to_vtt}
"""Format name (also the file extension) to formatter."""

__all__ = ["FORMATTERS", "Formatter", "to_json", "to_srt", "to_text", "to_vtt"]
