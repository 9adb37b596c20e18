"""Deepgram's ``/v1/listen`` query parameters, as our options.

Booleans are ``true``/``false`` (also ``1``/``0``, any case); repeated keys make lists; unknown
parameters are ignored, because older SDKs and raw clients send ``tier``, ``alternatives`` and
more. Options that need models this server does not have (summarize, topics, intents,
sentiment, redact) are accepted and ignored. ``diarize`` (or ``diarize_model``) turns on
diarization; ``num_speakers``, ``min_speakers``, ``max_speakers`` and ``diarize_mode`` are ours,
and so are the hallucination guard's ``vad_filter``, ``hallucination_guard``, ``repetition_filter``
and the three ``*_threshold`` values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from whisper_api.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, RawFormat
from whisper_api.errors import InvalidOptionError
from whisper_api.formats.deepgram import DeepgramOptions
from whisper_api.options import (
    DEFAULT_THRESHOLDS,
    MODES,
    RANGES,
    DiarizeOptions,
    SpeakerCount,
    TranscribeOptions,
)
from whisper_api.server.errors import ApiError
from whisper_api.streaming.decoders import FFMPEG_ENCODINGS
from whisper_api.streaming.events import DEFAULT_ENDPOINTING, PCM_ENCODINGS, StreamOptions

RAW_SAMPLE_FORMATS = {"linear16": "s16le", "linear32": "s32le", "mulaw": "mulaw", "alaw": "alaw"}
"""Headerless encodings; the others Deepgram names (flac, opus, amr...) carry headers and are sniffed."""

Query = Mapping[str, Sequence[str]]


def _invalid(name: str, wanted: str) -> ApiError:
    return ApiError(400, "INVALID_QUERY_PARAMETER", f"Bad Request: {name} must be {wanted}.")


def _last(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _bool(query: Query, name: str) -> bool:
    value = _last(query, name)
    if value is None or value.strip() == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid(name, "true or false")


def _value(query: Query, name: str, kind: type[int] | type[float] = float) -> float | None:
    """The parameter as a number (NaN when it is not one), or None when it is absent."""
    value = _last(query, name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return math.nan


def _number(query: Query, name: str, default: float, kind: type[int] | type[float]) -> float:
    number = _value(query, name, kind)
    if number is None:
        return default
    if not 0 < number < math.inf:  # NaN fails too
        raise _invalid(name, "a positive number")
    return number


def _pairs(values: Sequence[str], name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition(":")
        if not sep or not key:
            raise _invalid(name, "key:value")
        pairs.append((key, rest))
    return tuple(pairs)


CAPTION_FORMATS = {"srt": "application/x-subrip", "vtt": "text/vtt", "text": "text/plain"}
"""Our ``format`` extension: the body as a caption or text file instead of Deepgram JSON."""


@dataclass(frozen=True)
class ListenRequest:
    model: str | None
    transcribe: TranscribeOptions
    response: DeepgramOptions
    raw: RawFormat | None
    caption_format: str | None = None
    """srt, vtt or text (``format=``); None answers Deepgram JSON."""


def parse_listen(query: Query) -> ListenRequest:
    detect_values = query.get("detect_language", [])
    detect = any(value.lower() not in ("false", "0", "") for value in detect_values)
    language = _last(query, "language")
    if language in (None, "") and not detect:
        language = "en"  # Deepgram's default
    if language == "multi" or detect:
        language = None  # whisper detects it
    elif language is not None:
        language = language.split("-")[0].lower()  # BCP-47 en-US -> whisper's en
    terms = [*query.get("keyterm", []), *(word.partition(":")[0] for word in query.get("keywords", []))]
    transcribe = TranscribeOptions(language=language, initial_prompt=", ".join(t for t in terms if t) or None,
                                   multichannel=_bool(query, "multichannel"), diarize=_diarize(query))
    response = DeepgramOptions(
        punctuate=_bool(query, "punctuate"), smart_format=_bool(query, "smart_format"),
        utterances=_bool(query, "utterances"), utt_split=_number(query, "utt_split", 0.8, float),
        paragraphs=_bool(query, "paragraphs"), detect_language=detect,
        profanity_filter=_bool(query, "profanity_filter"), search=tuple(query.get("search", [])),
        replace=_pairs(query.get("replace", []), "replace"), tags=tuple(query.get("tag", [])),
        extra=dict(_pairs(query.get("extra", []), "extra")),
    )
    _bool(query, "numerals")  # whisper already writes numerals; still reject a malformed value
    return ListenRequest(_last(query, "model") or None, _guard(query, transcribe), response, _raw_format(query),
                         _format(query))


def _guard(query: Query, options: TranscribeOptions) -> TranscribeOptions:
    """Our hallucination-guard parameters (docs/hallucination-guard.md); absent ones keep the defaults."""
    return replace(
        options, vad=_switch(query, "vad_filter"), guard=_switch(query, "hallucination_guard") is not False,
        repetition_filter=_switch(query, "repetition_filter") is not False,
        no_speech_threshold=_within(query, "no_speech_threshold", DEFAULT_THRESHOLDS.no_speech),
        logprob_threshold=_within(query, "logprob_threshold", DEFAULT_THRESHOLDS.logprob),
        entropy_threshold=_within(query, "entropy_threshold", DEFAULT_THRESHOLDS.entropy),
    )


def _switch(query: Query, name: str) -> bool | None:
    """A boolean whose absence means "automatic" (None) rather than false."""
    return _bool(query, name) if (_last(query, name) or "").strip() else None


def _within(query: Query, name: str, default: float) -> float:
    number = _value(query, name)
    if number is None:
        return default
    if not RANGES[name].holds(number):
        raise _invalid(name, RANGES[name].wanted)
    return number


def _format(query: Query) -> str | None:
    value = (_last(query, "format") or "json").strip().lower()
    if value == "json":
        return None
    if value not in CAPTION_FORMATS:
        raise _invalid("format", f"json, {', '.join(CAPTION_FORMATS)}")
    return value


def _count(query: Query, name: str) -> int | None:
    return int(_number(query, name, 0, int)) if _last(query, name) is not None else None


def _diarize(query: Query) -> DiarizeOptions | None:
    """Deepgram's ``diarize=true`` (or any ``diarize_model``), with our speaker-count hints."""
    if not (_bool(query, "diarize") or (_last(query, "diarize_model") or "").strip()):
        return None
    mode = (_last(query, "diarize_mode") or "speaker").strip().lower()
    if mode not in MODES:
        raise _invalid("diarize_mode", " or ".join(MODES))
    try:
        count = SpeakerCount(_count(query, "num_speakers"), _count(query, "min_speakers"),
                             _count(query, "max_speakers"))
    except InvalidOptionError as exc:
        raise ApiError(400, "INVALID_QUERY_PARAMETER", f"Bad Request: {exc}.") from None
    return DiarizeOptions(mode, count)


def _raw_format(query: Query) -> RawFormat | None:
    encoding = (_last(query, "encoding") or "").lower()
    if encoding not in RAW_SAMPLE_FORMATS:
        return None
    if _last(query, "sample_rate") is None:
        raise _invalid("sample_rate", f"given for encoding={encoding}")
    rate = int(_number(query, "sample_rate", 16000, int))
    channels = int(_number(query, "channels", 1, int))
    _check_limits(rate, channels)
    return RawFormat(RAW_SAMPLE_FORMATS[encoding], rate, channels)


def _check_limits(rate: int | None, channels: int) -> None:
    if rate is not None and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _invalid("sample_rate", f"from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}")
    if channels > 32:
        raise _invalid("channels", "at most 32")


@dataclass(frozen=True)
class StreamRequest:
    """A ``/v1/listen`` WebSocket's parameters."""

    listen: ListenRequest
    options: StreamOptions
    encoding: str | None
    """None: a container (WebM, Ogg, WAV...) recognised from its bytes."""
    sample_rate: int | None
    channels: int


def _milliseconds(query: Query, name: str, default: float | None) -> float | None:
    value = _last(query, name)
    if value is None or value.strip().lower() == "true":
        return default
    if value.strip().lower() == "false":
        return None
    return _number(query, name, 0, float) / 1000


def parse_stream(query: Query) -> StreamRequest:
    listen = parse_listen(query)
    diarize = listen.transcribe.diarize
    if diarize is not None and diarize.mode == "channel" and not listen.transcribe.multichannel:
        raise _invalid("diarize_mode=channel", "used with multichannel=true on a stream")
    encoding = (_last(query, "encoding") or "").lower() or None
    if encoding is not None and encoding not in PCM_ENCODINGS and encoding not in FFMPEG_ENCODINGS:
        raise _invalid("encoding", f"one of {', '.join([*PCM_ENCODINGS, *FFMPEG_ENCODINGS])}, or left out")
    rate = int(_number(query, "sample_rate", 16000, int)) if _last(query, "sample_rate") is not None else None
    channels = int(_number(query, "channels", 1, int))
    _check_limits(rate, channels)
    options = StreamOptions(
        transcribe=listen.transcribe, interim_results=_bool(query, "interim_results"),
        endpointing=_milliseconds(query, "endpointing", DEFAULT_ENDPOINTING),
        utterance_end=_milliseconds(query, "utterance_end_ms", None), vad_events=_bool(query, "vad_events"),
        multichannel=listen.transcribe.multichannel)
    return StreamRequest(listen, options, encoding, rate, channels)
