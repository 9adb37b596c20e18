"""A live transcription: bytes to audio, its channels, the order of their decodes, one decode.

``open_stream`` (``Transcriber.stream``) is the one place a live transcription is put together:
the VAD, the speaker tracker, and ``transcribe_job``, which answers how a final (or an interim)
is decoded. Its host (the WebSocket handler, ``whisper-api live``) supplies only the transport
and where decodes run: it ``feed``s bytes as they come, asks to ``finalize``, ``end``s the stream,
while ``run`` works through the decodes one at a time, finals before interims, and hands each
event to ``emit``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from whisper_api.audio import SAMPLE_RATE, DecodedAudio, FloatArray
from whisper_api.engine.base import CONTEXT_FLOOR, audio_context
from whisper_api.options import TranscribeOptions
from whisper_api.streaming.channel import ChannelStream, DecodeJob
from whisper_api.streaming.decoders import StreamDecoder
from whisper_api.streaming.events import StreamEvent, StreamOptions
from whisper_api.transcript import Word
from whisper_api.vad.detector import VoiceActivity, open_vad, vad_model_path

if TYPE_CHECKING:
    from whisper_api.core import Transcriber
    from whisper_api.diarize.online import SpeakerTracker

Decode = Callable[[DecodeJob], Awaitable[tuple[Word, ...]]]
Emit = Callable[[StreamEvent], Awaitable[None]]
Work = Callable[["Transcriber", "threading.Event | None"], tuple[Word, ...]]
"""One decode, given the transcriber that runs it and an event that stops it."""
RunDecode = Callable[[DecodeJob, Work], Awaitable[tuple[Word, ...]]]
"""Where a decode runs, the host's choice: a thread by default; a server's worker pool, finals first."""

MIN_DECODE_SAMPLES = int(1.1 * SAMPLE_RATE)
"""whisper.cpp skips input shorter than 1 s: shorter utterances are padded with silence."""
TOKENS_PER_SECOND = 8
"""A generous bound on speech (about 4 tokens per second), so a looping decode stops early."""


def decode_options(base: TranscribeOptions, job: DecodeJob, reduce_finals: bool = True) -> TranscribeOptions:
    """A context that fits the audio (interims; finals at least CONTEXT_FLOOR, or the full 30 s
    unless ``reduce_finals``: a reduced one is 4-14x faster on short utterances, see
    docs/benchmarks.md), and timed words for finals.

    Timestamp tokens stay on for interims too: whisper.cpp stops a decode whose timestamps pass the
    end of the audio, which made decodes without them slower in the benchmark, not faster."""
    seconds = max(job.samples.size, MIN_DECODE_SAMPLES) / SAMPLE_RATE
    reduced = not job.is_final or reduce_finals
    return dataclasses.replace(
        base, temperature_fallback=False, word_timestamps=job.is_final,
        diarize=None,  # a short decode has too little audio to tell voices apart: a SpeakerTracker labels it
        vad=bool(base.vad),  # the stream's VAD chose this audio: a second, automatic pass per decode lost speech
        audio_context=audio_context(seconds, CONTEXT_FLOOR if job.is_final else 0) if reduced else 0,
        max_tokens=math.ceil(seconds * TOKENS_PER_SECOND) + 16,
    )


def transcribe_job(transcriber: Transcriber, job: DecodeJob, base: TranscribeOptions,
                   cancel: threading.Event | None = None, reduce_finals: bool = True,
                   speakers: SpeakerTracker | None = None) -> tuple[Word, ...]:
    """The words of one decode, timed from the start of the job's audio (with their stream
    speakers when ``speakers`` tracks them; only finals teach the tracker new voices)."""
    samples = job.samples
    if samples.size < MIN_DECODE_SAMPLES:
        samples = np.pad(samples, (0, MIN_DECODE_SAMPLES - samples.size))
    transcript = transcriber.transcribe(DecodedAudio.from_array(samples, "<live>"),
                                        decode_options(base, job, reduce_finals), cancel=cancel)
    spoken = job.samples.size / SAMPLE_RATE
    words = tuple(word for word in transcript.words() if word.start < spoken)
    if speakers is None:
        return words
    return speakers.label(transcriber.diarizer, job.channel, job.samples, words, update=job.is_final)


class LiveSession:
    def __init__(self, options: StreamOptions, vads: list[VoiceActivity], decode: Decode, emit: Emit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.streams = [ChannelStream(index, len(vads), options, vad, clock) for index, vad in enumerate(vads)]
        self._decode, self._emit = decode, emit
        self._wake = asyncio.Event()
        self._final_waiting = asyncio.Event()
        self._ending = False
        self._turn = 0

    @property
    def duration(self) -> float:
        """Seconds of audio received."""
        return self.streams[0].received / SAMPLE_RATE

    @property
    def lag(self) -> float:
        """How long the oldest final has waited for a decode: it grows when decoding cannot keep up."""
        return max(stream.oldest_wait() for stream in self.streams)

    async def push(self, samples: FloatArray) -> None:
        """Audio as (frames, channels), one column per stream channel."""
        for index, stream in enumerate(self.streams):
            frames = stream.accept(np.ascontiguousarray(samples[:, index]))
            # Silero runs in C without the GIL: on a thread, a burst of audio never stalls the event loop.
            probabilities = await asyncio.to_thread(stream.vad.probabilities, frames) if frames.size else frames
            for event in stream.analyse(probabilities):
                await self._emit(event)
        self._wake_up()

    def _wake_up(self) -> None:
        if any(stream.jobs for stream in self.streams):
            self._final_waiting.set()
        self._wake.set()

    def finalize(self) -> None:
        for stream in self.streams:
            stream.finalize()
        self._wake_up()

    def end(self) -> None:
        """No more audio: the remaining speech becomes final, then ``run`` returns."""
        for stream in self.streams:
            stream.finalize(from_finalize=False)
        self._ending = True
        self._wake_up()

    async def run(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                if self._ending:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            words = await self._run_job(job)
            if words is not None:
                for event in self.streams[job.channel].complete(job, words):
                    await self._emit(event)

    async def _run_job(self, job: DecodeJob) -> tuple[Word, ...] | None:
        """The job's words; None for an interim overtaken by a final (stale by then, so stopped)."""
        if not job.samples.size:
            return ()
        if job.is_final:
            return await self._decode(job)
        self._final_waiting.clear()
        decoding = asyncio.ensure_future(self._decode(job))
        overtaken = asyncio.ensure_future(self._final_waiting.wait())
        try:
            await asyncio.wait({decoding, overtaken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            overtaken.cancel()
            if not decoding.done():
                decoding.cancel()  # the engine stops at its next step; the final goes next
                await asyncio.wait({decoding})
        return None if decoding.cancelled() else decoding.result()

    def _next_job(self) -> DecodeJob | None:
        waiting = [stream for stream in self.streams if stream.jobs]
        if waiting:
            return min(waiting, key=lambda stream: stream.jobs[0].queued_at).next_job()
        count = len(self.streams)
        for step in range(count):  # interims take turns across channels
            stream = self.streams[(self._turn + step) % count]
            job = stream.next_job()
            if job is not None:
                self._turn = (stream.channel + 1) % count
                return job
        return None

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


class LiveStream:
    """Encoded bytes in, events out: a decoder feeding a LiveSession.

    The session is made with the first decoded audio, because a container's channel count is
    known only then. ``run`` works through the decodes until ``end`` has been called and every
    final is out.
    """

    def __init__(self, decoder: StreamDecoder, options: StreamOptions, vad_model: Path | None, decode: Decode,
                 emit: Emit) -> None:
        self.decoder, self.options, self.vad_model = decoder, options, vad_model
        self._decode, self._emit = decode, emit
        self.session: LiveSession | None = None
        self._started = asyncio.Event()
        """Set when the session exists, or when the stream ended without audio."""

    @property
    def duration(self) -> float:
        return self.session.duration if self.session else 0.0

    @property
    def channels(self) -> int:
        return len(self.session.streams) if self.session else 0

    @property
    def lag(self) -> float:
        return self.session.lag if self.session else 0.0

    async def feed(self, data: bytes) -> None:
        """Decode and transcribe more of the stream (raises AudioDecodeError on data that is not audio)."""
        await self._push(await self._decoded(data))

    async def finalize(self) -> None:
        """Make everything received so far final now."""
        await self._push(await self._decoded(b""))
        if self.session is not None:
            self.session.finalize()

    async def end(self) -> None:
        """No more input: the decoder's last samples, then the last finals."""
        await self._push(await asyncio.to_thread(self.decoder.finish))
        if self.session is not None:
            self.session.end()
        self._started.set()

    async def run(self) -> None:
        await self._started.wait()
        if self.session is not None:
            await self.session.run()

    async def _decoded(self, data: bytes) -> FloatArray:
        # ffmpeg's pipe can make a write wait: never on the event loop.
        return await asyncio.to_thread(self.decoder.feed, data) if self.decoder.blocking else self.decoder.feed(data)

    async def _push(self, samples: FloatArray) -> None:
        if samples.shape[0] == 0:
            return
        if self.session is None:
            path, channels = self.vad_model, samples.shape[1]
            vads = await asyncio.to_thread(lambda: [open_vad(path) for _ in range(channels)])
            self.session = LiveSession(self.options, vads, self._decode, self._emit)
            self._started.set()
        await self.session.push(samples)

    def close(self) -> None:
        """Free the decoder (it may be a process) and the VAD models."""
        self.decoder.close()
        if self.session is not None:
            self.session.close()


def open_stream(transcriber: Transcriber, options: StreamOptions, decoder: StreamDecoder, emit: Emit,
                run: RunDecode | None = None) -> LiveStream:
    """A live transcription with ``transcriber``'s models and settings (blocking: a speaker model is loaded
    here when the options diarize, so a missing one is refused before any audio is read)."""
    diarize = options.transcribe.diarize
    speakers = None
    if diarize is not None:
        diarizer = transcriber.diarizer  # refuses clearly when the diarize extra is missing
        from whisper_api.diarize.online import SpeakerTracker  # scipy: imported only when needed

        if diarize.mode == "speaker":
            diarizer.encoder()
        speakers = SpeakerTracker(diarize)
    reduce_finals = not transcriber.settings.live_full_context

    async def on_a_thread(_: DecodeJob, work: Work) -> tuple[Word, ...]:
        return await asyncio.to_thread(work, transcriber, None)

    async def decode(job: DecodeJob) -> tuple[Word, ...]:
        return await (run or on_a_thread)(job, lambda worker, stop: transcribe_job(
            worker, job, options.transcribe, stop, reduce_finals, speakers))

    return LiveStream(decoder, options, vad_model_path(transcriber.models), decode, emit)
