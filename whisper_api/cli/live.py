"""``whisper-api live``: live transcription of a file or standard input, as the audio arrives.

The same streaming engine as the server's WebSocket: utterances found by voice activity,
each printed as it ends. ``--json`` prints Deepgram's streaming messages, one per line, for
pipelines; ``--interim`` also shows results that may still change (on stderr, or in the JSON).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from whisper_api.cli import speakers as speaker_options
from whisper_api.cli.console import stderr, warn
from whisper_api.cli.flags import flag
from whisper_api.clock import utc_now
from whisper_api.formats.deepgram import DeepgramOptions, ResponseMeta
from whisper_api.formats.deepgram_live import closing_metadata, event_message
from whisper_api.formats.text import speaker_runs
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings
from whisper_api.streaming.events import (
    DEFAULT_ENDPOINTING,
    PCM_ENCODINGS,
    StreamEvent,
    StreamOptions,
    StreamResult,
)

if TYPE_CHECKING:
    from whisper_api.streaming.live import LiveStream

READ_BYTES = 1 << 14


def _final_lines(result: StreamResult) -> list[str]:
    """The final's text; with speakers, a line per speaker turn."""
    return [(f"[Speaker {speaker}] " if speaker is not None else "") + text
            for speaker, text in speaker_runs(result.words)]


class _Printer:
    """Finals to stdout as text lines (or every message as JSON); interims on a terminal's stderr line."""

    def __init__(self, as_json: bool, meta: ResponseMeta, show_interims: bool) -> None:
        self.as_json, self.meta, self.show_interims = as_json, meta, show_interims
        self.options = DeepgramOptions(punctuate=True)

    async def emit(self, event: StreamEvent) -> None:
        if self.as_json:
            print(json.dumps(event_message(event, self.options, self.meta)), flush=True)
        elif isinstance(event, StreamResult):
            text = " ".join(word.text for word in event.words)
            if event.is_final:
                self._clear_interim()
                for line in _final_lines(event):
                    print(line if event.channels == 1 else f"[channel {event.channel}] {line}", flush=True)
            elif self.show_interims and stderr.is_terminal:
                stderr.file.write(f"\r\x1b[2K\x1b[2m{text[-(stderr.width - 1):]}\x1b[0m")
                stderr.file.flush()

    def _clear_interim(self) -> None:
        if self.show_interims and stderr.is_terminal:
            stderr.file.write("\r\x1b[2K")

    def finish(self, stream: LiveStream) -> None:
        if self.as_json:
            print(json.dumps(closing_metadata(self.meta, stream.duration, stream.channels)), flush=True)


def live(
    source: Annotated[str, typer.Argument(help="An audio file, or - for standard input (a live capture).")] = "-",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name or path to a .bin.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Spoken language; default: detect.")]
    = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help=f"Headerless input: {', '.join(PCM_ENCODINGS)} (needs --sample-rate). "
                           "Default: a container (WAV, Ogg, WebM, MP3, FLAC...) recognised from its bytes.")] = None,
    sample_rate: Annotated[int | None, typer.Option("--sample-rate", min=1000, help="Sample rate of headerless input.")]
    = None,
    channels: Annotated[int, typer.Option("--channels", min=1, max=32, help="Channels of headerless input.")] = 1,
    multichannel: Annotated[bool, flag("--multichannel", help="Transcribe each channel on its own.")] = False,
    endpointing: Annotated[int, typer.Option(
        "--endpointing", min=0, help="Milliseconds of silence that end an utterance (0: only at the maximum length).")]
    = round(DEFAULT_ENDPOINTING * 1000),
    interim: Annotated[bool, flag("--interim", help="Show results that may still change.")] = False,
    json_: Annotated[bool, flag("--json", help="Deepgram streaming messages, one JSON per line.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", "-t", min=1, help="CPU threads.")] = None,
    full_context: Annotated[bool | None, flag(
        "--full-context", help="Decode finals with whisper's full 30 s context (slower).")] = None,
    diarize: Annotated[bool, flag("--diarize", help="Label each word with its speaker.")] = False,
    speakers: speaker_options.Speakers = None,
    max_speakers: speaker_options.MaxSpeakers = None,
) -> None:
    """Transcribe audio as it arrives: each utterance is printed when it ends."""
    settings = load_settings({"model": model, "threads": threads, "live_full_context": full_context})
    diarization = speaker_options.diarize_options("speaker", speakers, None, max_speakers) if diarize else None
    transcribe = TranscribeOptions(model=model, language=language, threads=threads, multichannel=multichannel,
                                   diarize=diarization)
    options = StreamOptions(transcribe=transcribe, interim_results=interim, endpointing=endpointing / 1000 or None,
                            vad_events=json_, utterance_end=1.0 if json_ else None, multichannel=multichannel)
    # The engine and live stacks: loaded only when there is audio to transcribe (fast --help).
    from whisper_api.audio import require_audio_file
    from whisper_api.core import Transcriber
    from whisper_api.models.identity import record
    from whisper_api.streaming.decoders import open_decoder
    from whisper_api.vad.detector import vad_model_path

    if source != "-":
        require_audio_file(Path(source))  # before the model loads: the same errors and exit code as transcribe
    with Transcriber(settings) as transcriber:
        identity = record(model or settings.model, transcriber.models)  # a missing model stops us before reading
        if vad_model_path(transcriber.models) is None:
            warn("no VAD model installed: finding speech by loudness (whisper-api models download silero-vad)")
        meta = ResponseMeta(str(uuid.uuid4()), "incomplete", utc_now(), identity.uuid, identity.name, identity.version)
        printer = _Printer(json_, meta, interim)
        stream = transcriber.stream(options, open_decoder(encoding, sample_rate, channels, mono=not multichannel),
                                    printer.emit)
        try:
            if source == "-":
                asyncio.run(_pump(sys.stdin.buffer, stream))
            else:
                with open(source, "rb") as audio:  # noqa: PTH123 - a binary stream to read in pieces
                    asyncio.run(_pump(audio, stream))
        finally:
            stream.close()
        printer.finish(stream)


async def _pump(audio: BinaryIO, stream: LiveStream) -> None:
    runner = asyncio.create_task(stream.run())
    try:
        while data := await asyncio.to_thread(_read_some, audio):
            await stream.feed(data)
        await stream.end()
        await runner
    finally:
        runner.cancel()


def _read_some(audio: BinaryIO) -> bytes:
    """What is there now, up to READ_BYTES: a live pipe gives its audio as soon as it comes."""
    read1 = getattr(audio, "read1", None)
    return bytes(read1(READ_BYTES)) if read1 is not None else audio.read(READ_BYTES)
