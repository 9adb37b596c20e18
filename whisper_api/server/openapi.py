"""What the served OpenAPI schema says beyond the handlers' signatures: the query parameters and
bodies that handlers parse themselves (Deepgram's, as its SDKs send them), and every error status a
route can answer, in the shape it answers it. Schema checkers (schemathesis) hold the server to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from whisper_api.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from whisper_api.models.store import MODEL_NAME


@dataclass(frozen=True)
class DeepgramError:
    err_code: str
    err_msg: str
    request_id: str


@dataclass(frozen=True)
class OpenAIErrorDetail:
    message: str
    type: str
    param: str | None
    code: str | None


@dataclass(frozen=True)
class OpenAIError:
    error: OpenAIErrorDetail


STATUS_TEXT = {400: "Bad request: malformed parameters, body or audio", 401: "No valid key",
               403: "The key lacks the scope", 404: "Not found", 408: "The body stopped arriving",
               413: "The body is over the upload limit", 429: "Too many requests; see Retry-After",
               503: "The model or the key database is unavailable", 504: "The transcription ran past the timeout"}
AUTHENTICATED = (401, 403, 503)
TRANSCRIBING = (*AUTHENTICATED, 400, 408, 413, 429, 504)
MANAGING = (*AUTHENTICATED, 400, 404)
"""Key management: 400 when the server runs without authentication, 404 for another project or key."""


@dataclass(frozen=True)
class Readiness:
    status: str
    model: str
    problems: list[str]


NOT_READY = {503: ResponseSpec(Readiness, generate_examples=False, description="Not ready, with the problems")}


def errors(*statuses: int, body: type[Any] = DeepgramError) -> dict[int, ResponseSpec]:
    """The error responses of a route: Deepgram's body by default, OpenAI's on the OpenAI routes."""
    return {status: ResponseSpec(body, generate_examples=False, description=STATUS_TEXT[status])
            for status in statuses}


def _query(name: str, schema: Schema, description: str) -> Parameter:
    return Parameter(name=name, param_in="query", schema=schema, description=description, required=False)


BOOLEAN = Schema(type=OpenAPIType.BOOLEAN)
TEXT = Schema(type=OpenAPIType.STRING, max_length=1000)
TEXTS = Schema(type=OpenAPIType.ARRAY, items=TEXT)
PAIRS = Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, pattern=r"^[^:]+:.*$", max_length=1000))
POSITIVE = Schema(type=OpenAPIType.NUMBER, exclusive_minimum=0)
COUNT = Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=64)


def _choice(*values: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, enum=list(values))


LISTEN_PARAMETERS = [
    _query("model", Schema(type=OpenAPIType.STRING, pattern=f"^{MODEL_NAME.pattern}$"),
           "A Deepgram model name (the server's default model) or an installed Whisper model."),
    _query("language", Schema(type=OpenAPIType.STRING, max_length=35), "BCP-47 or Whisper language, or multi."),
    _query("detect_language", BOOLEAN, "Detect the language."),
    *(_query(name, BOOLEAN, description) for name, description in (
        ("punctuate", "Punctuated words."), ("smart_format", "Formatted transcript."),
        ("utterances", "Utterances."), ("paragraphs", "Paragraphs."), ("profanity_filter", "Mask profanity."),
        ("numerals", "Accepted; Whisper writes numerals."), ("multichannel", "One transcript per channel."),
        ("diarize", "Speaker labels."), ("vad_filter", "Decode only speech (ours)."),
        ("hallucination_guard", "The hallucination guard (ours)."),
        ("repetition_filter", "Drop repeated segments (ours)."))),
    _query("utt_split", POSITIVE, "Pause in seconds that splits utterances."),
    _query("search", TEXTS, "Terms to find."),
    _query("replace", PAIRS, "find:replacement pairs."),
    _query("tag", TEXTS, "Tags echoed in the metadata."),
    _query("extra", PAIRS, "key:value pairs echoed in the metadata."),
    _query("keyterm", TEXTS, "Terms that prompt the decoder."),
    _query("keywords", TEXTS, "Terms that prompt the decoder (older name)."),
    _query("diarize_model", TEXT, "Any value turns diarization on."),
    _query("diarize_mode", _choice("speaker", "channel"), "Speakers by voice or one per channel (ours)."),
    *(_query(name, COUNT, f"Speaker count hint (ours): {name}.") for name in
      ("num_speakers", "min_speakers", "max_speakers")),
    _query("encoding", _choice("linear16", "linear32", "mulaw", "alaw"), "Headerless audio's encoding."),
    _query("sample_rate", Schema(type=OpenAPIType.INTEGER, minimum=MIN_SAMPLE_RATE, maximum=MAX_SAMPLE_RATE),
           "Headerless audio's sample rate (required with encoding)."),
    _query("channels", Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=32), "Headerless audio's channels."),
    _query("format", _choice("json", "srt", "vtt", "text"), "The response body's format (ours)."),
    _query("callback", Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI, max_length=2000),
           "Answer at once and deliver the result to this http(s) URL."),
    _query("callback_method", _choice("POST", "PUT", "post", "put"), "The callback's method."),
    _query("no_speech_threshold", Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1), "Guard threshold (ours)."),
    _query("logprob_threshold", Schema(type=OpenAPIType.NUMBER, maximum=0), "Guard threshold (ours)."),
    _query("entropy_threshold", Schema(type=OpenAPIType.NUMBER, minimum=0), "Guard threshold (ours)."),
]
LISTEN_BODY = RequestBody(required=True, description="The audio itself (any container ffmpeg reads, or headerless "
                          "with encoding and sample_rate), or JSON naming a URL to fetch it from.", content={
    "application/octet-stream": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)),
    "application/json": OpenAPIMediaType(schema=Schema(
        type=OpenAPIType.OBJECT, required=["url"],
        properties={"url": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI, max_length=2000)})),
})
LISTEN_CONTENT = {
    "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
    **{media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
       for media_type in ("application/x-subrip", "text/vtt", "text/plain")},
}


@dataclass
class ListenOperation(Operation):
    """``POST /v1/listen``: the parameters and body the handler parses from the raw request."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), *LISTEN_PARAMETERS]
        self.request_body = LISTEN_BODY
        if self.responses is not None and "200" in self.responses:
            self.responses["200"].content = LISTEN_CONTENT  # type: ignore[union-attr]


@dataclass
class GrantOperation(Operation):
    """``POST /v1/auth/grant``: an optional JSON body with the token's lifetime."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=False, content={"application/json": OpenAPIMediaType(schema=Schema(
            type=OpenAPIType.OBJECT,
            properties={"ttl_seconds": Schema(type=[OpenAPIType.NUMBER, OpenAPIType.NULL], minimum=1, maximum=3600,
                                              description="Lifetime in seconds; null or absent: 30.")}))})


OPENAI_FORM = Schema(type=OpenAPIType.OBJECT, required=["file"], properties={
    "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description="The audio file."),
    "model": Schema(type=OpenAPIType.STRING, description="whisper-1 or gpt-* (the default model), or an installed "
                    "Whisper model."),
    "language": Schema(type=OpenAPIType.STRING, max_length=35),
    "prompt": Schema(type=OpenAPIType.STRING, max_length=1000),
    "response_format": _choice("json", "text", "srt", "verbose_json", "vtt"),
    "temperature": Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1),
    "timestamp_granularities[]": Schema(type=OpenAPIType.ARRAY, items=_choice("word", "segment")),
})


@dataclass
class OpenAIOperation(Operation):
    """OpenAI's ``/v1/audio/*`` routes: the multipart fields the handler reads, and its answers' types."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={
            "multipart/form-data": OpenAPIMediaType(schema=OPENAI_FORM)})
        if self.responses is not None and "200" in self.responses:
            self.responses["200"].content = {  # type: ignore[union-attr]
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
                **{media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
                   for media_type in ("text/plain", "application/x-subrip", "text/vtt")}}


@dataclass
class CreateKeyOperation(Operation):
    """``POST /v1/projects/{id}/keys``: Deepgram's key fields, read from the raw JSON body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=False, content={"application/json": OpenAPIMediaType(schema=Schema(
            type=OpenAPIType.OBJECT, properties={
                "comment": Schema(type=OpenAPIType.STRING, max_length=200),
                "scopes": Schema(type=OpenAPIType.ARRAY, items=_choice("member", "admin", "owner", "usage:write")),
                "time_to_live_in_seconds": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=100 * 365 * 86400),
                "expiration_date": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
                "tags": Schema(type=OpenAPIType.ARRAY, items=TEXT)}))})


@dataclass
class UsageOperation(Operation):
    """``GET /v1/projects/{id}/usage``: the period and the key it covers."""

    def __post_init__(self) -> None:
        day = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE)
        self.parameters = [*(self.parameters or []), _query("start", day, "First day (UTC)."),
                           _query("end", day, "Last day (UTC)."), _query("accessor", TEXT, "A key id.")]
