"""What a caller can ask of one transcription."""

from __future__ import annotations

from dataclasses import dataclass

from whisper_api.diarize.options import DiarizeOptions


@dataclass(frozen=True)
class TranscribeOptions:
    """Decoding options. ``None`` means "the configured default" (see settings)."""

    model: str | None = None
    """A catalogue name (``base.en``), an installed file's name, or a path to a ``.bin``."""
    language: str | None = None
    """An ISO 639-1 code such as ``en``; None or ``auto`` detects the language."""
    translate: bool = False
    """Translate the speech into English."""
    threads: int | None = None
    initial_prompt: str | None = None
    """Text the decoder sees as if it came before the audio: names, spellings, style."""
    beam_size: int = 1
    """1 decodes greedily; more runs beam search with that many beams."""
    best_of: int = 5
    """Candidates sampled per window when the temperature falls back above 0."""
    temperature: float = 0.0
    temperature_fallback: bool = True
    """Re-decode a window at higher temperatures when the output looks degenerate."""
    vad: bool = False
    """Skip non-speech with a Silero VAD model before decoding."""
    vad_model: str | None = None
    """A VAD model name or path; default: the installed ``silero-vad``."""
    word_timestamps: bool = True
    """Time each word from token timestamps; off spreads words evenly over their segment."""
    multichannel: bool = False
    """Transcribe each audio channel on its own instead of a mono mix."""
    timestamps: bool = True
    """Off, whisper decodes without timestamp tokens: one segment, fewer tokens (live interim results)."""
    audio_context: int = 0
    """Encoder frames to use (50 per second of audio); 0 uses all 1500 (30 s). Fewer is faster on short audio."""
    max_tokens: int = 0
    """At most this many tokens per segment; 0 means no limit."""
    diarize: DiarizeOptions | None = None
    """Label every word with its speaker (see docs/diarization.md); None skips diarization."""

    @property
    def keeps_channels(self) -> bool:
        """Whether the audio must be decoded channel by channel rather than as a mono mix."""
        return self.multichannel or (self.diarize is not None and self.diarize.mode == "channel")

    @property
    def auto_language(self) -> bool:
        return self.language in (None, "", "auto")
