"""The one door every front end uses: audio in, Transcript out.

The CLI, the server and Python callers all hold a Transcriber: it resolves the model,
decodes the audio, runs the engine per channel and assembles the Transcript. Models stay
loaded in the engine between calls.
"""

from __future__ import annotations

import dataclasses
import io
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Union

import numpy as np
import numpy.typing as npt

from whisper_api.allocator import return_freed_buffers
from whisper_api.audio import SAMPLE_RATE, DecodedAudio, Track, decode_file, decode_stream
from whisper_api.engine import Decoding, Engine, EngineJob, EngineResult, ProgressCallback, create_engine
from whisper_api.engine.base import CONTEXT_FLOOR, ENCODER_FRAMES_PER_SECOND, FULL_CONTEXT, audio_context
from whisper_api.errors import InvalidOptionError, TranscriptionCancelled
from whisper_api.guard import DecodeAlone, remove_loops
from whisper_api.models import VAD_MODEL, ModelStore
from whisper_api.options import DiarizeOptions, TranscribeOptions, require_channels
from whisper_api.settings import Settings, load_settings
from whisper_api.transcript import Segment, Transcript
from whisper_api.vad.detector import probabilities_with, vad_model_path
from whisper_api.vad.gate import PIECE_SECONDS, gate, joined_seconds, pieces, speech_regions_to_decode
from whisper_api.vad.regions import Region

if TYPE_CHECKING:
    from whisper_api.diarize.diarizer import Diarizer
    from whisper_api.diarize.pipeline import Diarization
    from whisper_api.streaming.decoders import StreamDecoder
    from whisper_api.streaming.events import StreamOptions
    from whisper_api.streaming.live import Emit, LiveStream, RunDecode

AudioSource = Union[str, "os.PathLike[str]", bytes, BinaryIO, DecodedAudio, "npt.NDArray[np.floating[Any]]"]
"""A file, encoded bytes or a stream of them, or samples: 16 kHz floats, 1-D or (frames, channels)."""
WINDOW_SECONDS = FULL_CONTEXT / ENCODER_FRAMES_PER_SECOND
"""whisper's window (30 s): what it detects the language from."""
DIARIZE_EXTRA = ("scipy", "threadpoolctl")
"""What ``pip install 'whisper-api[diarize]'`` adds."""


class Transcriber:
    """Holds settings, the model store and an engine with its loaded models."""

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None) -> None:
        return_freed_buffers()
        self.settings = settings or load_settings()
        self.models = ModelStore(self.settings.models_dir)
        self.engine = engine or create_engine(self.settings.engine, self.settings)
        self._diarizer: Diarizer | None = None
        self._diarizer_lock = threading.Lock()

    @property
    def diarizer(self) -> Diarizer:
        """Created on first use: diarization imports scipy, which transcribing alone never needs."""
        with self._diarizer_lock:
            if self._diarizer is None:
                self._diarizer = require_diarization()(self.models)
            return self._diarizer

    def __enter__(self) -> Transcriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()

    def model_path(self, spec: str | None = None) -> Path:
        return self.models.resolve(spec or self.settings.model)

    def transcribe(
        self,
        source: AudioSource,
        options: TranscribeOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Transcribe a file path, bytes, a binary stream or decoded audio."""
        options = options or TranscribeOptions()
        model_path = self.model_path(options.model)  # fail on a missing model before decoding
        vad_path = self.vad_path(options)
        if options.diarize and options.diarize.mode == "speaker":
            self.diarizer.speaker_models()  # a missing speaker model fails before a long transcription, not after
        audio = decode(source, mono=not options.keeps_channels)
        if options.diarize and options.diarize.mode == "channel":
            require_channels(audio.channels)  # before the transcription, not after
        channels = audio.channels if options.multichannel else 1
        results: list[EngineResult] = []
        for channel in range(channels):
            _stop_if_cancelled(cancel)
            job = EngineJob(
                audio=np.zeros(0, np.float32),  # each piece's audio is read when it is decoded (_decode)
                model_path=model_path,
                decoding=Decoding.of(options),
                threads=options.threads or self.settings.threads,
                progress=_part_progress(progress, [1.0] * channels, channel),
                cancel=cancel,
            )
            track = audio.track(channel if options.multichannel else None)
            result = self._decode(track, job, vad_path)
            if options.filters_repetitions:
                # Only where a VAD model heard speech can a repeat's audio be asked: elsewhere whisper
                # may write the same stock phrase ("Thank you.") on each stretch of music or silence.
                decode_alone = self._decoder_of_spans(track, job, result.language) if vad_path else None
                result = dataclasses.replace(result, segments=remove_loops(result.segments, decode_alone))
            results.append(result)
        transcript = Transcript(
            segments=tuple(
                dataclasses.replace(segment, channel=channel)
                for channel, result in enumerate(results)
                for segment in result.segments
            ),
            duration=round(audio.duration, 3),
            language=results[0].language,
            language_confidence=results[0].language_confidence,
            channels=channels,
            model=options.model or self.settings.model,
            warnings=audio.warnings,
        )
        return self.label_speakers(transcript, audio, options.diarize, cancel) if options.diarize else transcript

    def _decode(self, track: Track, job: EngineJob, vad_path: Path | None) -> EngineResult:
        """Decode a track a piece at a time (vad/gate.py). With a VAD model only the speech it finds is
        decoded: no speech, no decoding, no invented text. The language found in the first piece that
        fills whisper's 30 s window (or in the last piece, if none does) holds for the pieces after it."""
        plan = self._plan(track, vad_path, job.cancel)
        if not plan:
            return EngineResult((), job.decoding.language or "en")
        lengths = [joined_seconds(piece) for piece in plan]
        segments: list[Segment] = []
        settled: EngineResult | None = None
        for index, piece in enumerate(plan):
            _stop_if_cancelled(job.cancel)
            gated = gate(track, piece)
            decoding = job.decoding if settled is None else dataclasses.replace(job.decoding, language=settled.language)
            result = self.engine.transcribe(fitted(dataclasses.replace(
                job, audio=gated.samples, decoding=decoding, progress=_part_progress(job.progress, lengths, index))))
            if settled is None and (lengths[index] >= WINDOW_SECONDS or index == len(plan) - 1):
                settled = result
            segments.extend(gated.restore(result.segments))
        assert settled is not None
        return EngineResult(tuple(segments), settled.language, settled.language_confidence)

    def _decoder_of_spans(self, track: Track, job: EngineJob, language: str) -> DecodeAlone:
        """Decodes one segment's span of the track on its own, with no earlier text (not even the
        caller's prompt, which whisper may copy): the repetition filter asks it before it drops a
        segment that repeats the one before it."""
        decoding = dataclasses.replace(job.decoding, language=language, initial_prompt=None)

        def decode(segment: Segment) -> tuple[Segment, ...]:
            span = track[round(segment.start * SAMPLE_RATE):round(segment.end * SAMPLE_RATE)]
            alone = dataclasses.replace(job, audio=span, decoding=decoding, progress=None)
            return self.engine.transcribe(fitted(alone)).segments if span.size else ()

        return decode

    @staticmethod
    def _plan(track: Track, vad_path: Path | None, cancel: threading.Event | None) -> list[tuple[Region, ...]]:
        """The pieces to decode. Without a VAD model the whole track is decoded, still in pieces when it is
        long, cut where the energy detector hears least."""
        duration = len(track) / SAMPLE_RATE
        if duration == 0:
            return []
        if vad_path is None and duration <= PIECE_SECONDS:
            return [(Region(0.0, duration),)]
        probabilities = probabilities_with(vad_path, track, cancel)
        regions = speech_regions_to_decode(probabilities, duration) if vad_path else [Region(0.0, duration)]
        return pieces(regions, probabilities, PIECE_SECONDS)

    def vad_path(self, options: TranscribeOptions) -> Path | None:
        """The VAD model that gates decoding: required with ``vad=True``, else the installed one while the
        guard is on (none installed: decode everything, as without a guard)."""
        if options.vad:
            return self.models.resolve(options.vad_model or VAD_MODEL)
        if options.vad is False or not options.guard:
            return None
        if options.vad_model:
            return self.models.resolve(options.vad_model)  # named, so a missing one is an error
        return vad_model_path(self.models)

    def stream(self, options: StreamOptions, decoder: StreamDecoder, emit: Emit,
               run: RunDecode | None = None) -> LiveStream:
        """A live transcription: feed it encoded bytes as they come, and it emits results as each
        utterance ends (see streaming/live.py). ``run`` says where decodes run (default: a thread)."""
        from whisper_api.streaming.live import open_stream  # the live stack: only for live transcription

        return open_stream(self, options, decoder, emit, run)

    def diarize(self, source: AudioSource, options: DiarizeOptions | None = None,
                cancel: threading.Event | None = None) -> Diarization:
        """Who spoke when, without speech recognition."""
        options = options or DiarizeOptions()
        if options.mode == "speaker":
            self.diarizer.speaker_models()
        return self.diarizer.diarize(decode(source, mono=options.mode != "channel"), options, cancel)

    def label_speakers(self, transcript: Transcript, audio: DecodedAudio, options: DiarizeOptions,
                       cancel: threading.Event | None = None) -> Transcript:
        """Diarize the audio and put a speaker on every word of its transcript."""
        from whisper_api.diarize.assign import label_words

        diarization = self.diarizer.diarize(audio, options, cancel)
        labelled = label_words(transcript, diarization.turns, diarization.speakers, diarization.all_turns)
        return dataclasses.replace(labelled, warnings=(*labelled.warnings, *diarization.warnings))


def fitted(job: EngineJob) -> EngineJob:
    """Audio of 14 s or less decodes with a 15.4 s encoder context instead of whisper's 30 s: the same
    words at about half the encoder's cost (docs/benchmarks.md, "Short clips"). An explicit
    ``audio_context`` is kept, and longer audio keeps the full context."""
    if job.decoding.audio_context or audio_context(job.audio.size / SAMPLE_RATE) > CONTEXT_FLOOR:
        return job
    return dataclasses.replace(job, decoding=dataclasses.replace(job.decoding, audio_context=CONTEXT_FLOOR))


def require_diarization() -> type[Diarizer]:
    """The diarizer class, or a clear error when its extra is not installed (a plain ``pip install .``):
    front ends call it before fetching models diarization would need."""
    try:
        from whisper_api.diarize.diarizer import Diarizer
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in DIARIZE_EXTRA:
            raise
        raise InvalidOptionError("speaker diarization needs scipy and threadpoolctl: "
                                 "pip install 'whisper-api[diarize]'") from None
    return Diarizer


def _stop_if_cancelled(cancel: threading.Event | None) -> None:
    """Between the steps that do not watch ``cancel`` themselves."""
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled("transcription cancelled")


def decode(source: AudioSource, *, mono: bool = True) -> DecodedAudio:
    if isinstance(source, DecodedAudio):
        return source
    if isinstance(source, np.ndarray):
        return DecodedAudio.from_array(source)
    if isinstance(source, bytes):
        return decode_stream(io.BytesIO(source), mono=mono, name="<bytes>")
    if isinstance(source, (str, os.PathLike)):
        return decode_file(Path(source), mono=mono)
    return decode_stream(source, mono=mono, name=getattr(source, "name", None) or "<stream>")


def _part_progress(progress: ProgressCallback | None, parts: list[float], index: int) -> ProgressCallback | None:
    """Progress through part ``index`` of a job as progress through the whole, given each part's size."""
    if progress is None:
        return None
    report, before, total = progress, sum(parts[:index]), sum(parts)
    if total <= 0:  # nothing to decode: report as it comes
        return progress
    return lambda fraction: report((before + fraction * parts[index]) / total)


@cache
def default_transcriber() -> Transcriber:
    """A process-wide Transcriber from the environment's settings, so models stay loaded."""
    return Transcriber()


def transcribe(source: AudioSource, options: TranscribeOptions | None = None) -> Transcript:
    """Transcribe with the default settings: ``whisper_api.transcribe("talk.mp3")``."""
    return default_transcriber().transcribe(source, options)
