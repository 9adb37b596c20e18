"""One channel of a live stream: voice activity, utterances, and what to decode when.

A pure state machine (no threads, no I/O): ``accept`` audio and ``analyse`` the VAD's verdict
on it, take ``DecodeJob``s out with ``next_job``, hand the decoded words back with
``complete``. Results tile the stream: each final covers the time from the previous final's
end to its own end, so finals never overlap, and an utterance cut at the maximum length is
cut at its quietest frame, between words.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.streaming.events import SpeechStarted, StreamEvent, StreamOptions, StreamResult, UtteranceEnd
from whisper_api.transcript import Word
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.detector import VoiceActivity
from whisper_api.vad.regions import LIVE_RULES

PRE_ROLL = TAIL = round(LIVE_RULES.pad * SAMPLE_RATE)
"""Audio kept before the first speech frame and after the last."""
MIN_SPEECH_FRAMES = round(LIVE_RULES.min_speech / FRAME_SECONDS)
CUT_SEARCH = 3 * SAMPLE_RATE
"""How far back from the maximum length to look for the quietest frame to cut at."""


@dataclass(frozen=True)
class DecodeJob:
    channel: int
    samples: FloatArray
    """The audio to decode (empty: nothing was said, the result is empty)."""
    offset: float
    """Stream time of samples[0]."""
    window_start: float
    window_end: float
    is_final: bool
    speech_final: bool = False
    from_finalize: bool = False
    queued_at: float = 0.0


class ChannelStream:
    def __init__(self, channel: int, channels: int, options: StreamOptions, vad: VoiceActivity,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.channel, self.channels, self.options, self.vad, self.clock = channel, channels, options, vad, clock
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0
        """Stream sample of buffer[0]: audio before it is no longer needed."""
        self.received = 0
        self.vad_cursor = 0
        """Samples up to here went through the VAD (whole frames only)."""
        self.probabilities = np.zeros(0, np.float32)
        """VAD output for frames from buffer_start // FRAME_SAMPLES... kept as long as the buffer."""
        self.final_end = 0
        self.utterance_start: int | None = None
        self.in_speech = False
        self.speech_frames = 0
        self.onset = 0
        """Stream sample where the current utterance's speech began."""
        self.last_speech_end = 0
        self.last_interim = 0
        self.jobs: deque[DecodeJob] = deque()
        self.final_in_flight = False
        self.last_word_end: float | None = None
        self.utterance_end_due = False

    @property
    def endpoint_samples(self) -> int | None:
        seconds = self.options.effective_endpointing
        return None if seconds is None else int(seconds * SAMPLE_RATE)

    def accept(self, samples: FloatArray) -> FloatArray:
        """Store more audio; returns the whole frames the VAD has not seen, for ``analyse``."""
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32, copy=False)])
        self.received += samples.size
        whole = (self.received - self.vad_cursor) // FRAME_SAMPLES * FRAME_SAMPLES
        first = self.vad_cursor - self.buffer_start
        frames: FloatArray = self.buffer[first:first + whole].copy()
        return frames

    def analyse(self, probabilities: FloatArray) -> list[StreamEvent]:
        """The VAD's verdict on those frames (run apart, so async hosts can put the VAD on a thread);
        returns the events it causes at once (SpeechStarted, UtteranceEnd)."""
        self.probabilities = np.concatenate([self.probabilities, probabilities])
        events: list[StreamEvent] = []
        for probability in probabilities:
            self.vad_cursor += FRAME_SAMPLES
            started = self._frame(float(probability), self.vad_cursor)
            if started is not None and self.options.vad_events:
                events.append(started)
        self._trim()
        return events + self._utterance_end()

    def _frame(self, probability: float, frame_end: int) -> SpeechStarted | None:
        frame_start = frame_end - FRAME_SAMPLES
        speech = probability >= LIVE_RULES.onset or (self.in_speech and probability >= LIVE_RULES.offset)
        started = None
        if speech:
            if self.utterance_start is None:
                self.utterance_start = max(self.final_end, frame_start - PRE_ROLL)
                self.onset = frame_start
            self.speech_frames += 1
            self.last_speech_end = frame_end
            if self.speech_frames == MIN_SPEECH_FRAMES:  # announced once it is more than a click
                started = SpeechStarted(self.channel, self.channels, round(self.onset / SAMPLE_RATE, 3))
        self.in_speech = speech
        endpoint = self.endpoint_samples
        if self.utterance_start is not None and not speech and endpoint is not None \
                and frame_end - self.last_speech_end >= endpoint:
            self._end_utterance(min(frame_end, self.last_speech_end + TAIL), speech_final=True)
        elif self.utterance_start is not None \
                and frame_end - self.utterance_start >= self.options.max_utterance * SAMPLE_RATE:
            self._cut(frame_end)
        return started

    def _end_utterance(self, end: int, speech_final: bool, from_finalize: bool = False) -> None:
        start, spoken = self.utterance_start, self.speech_frames >= MIN_SPEECH_FRAMES
        self.utterance_start, self.speech_frames = None, 0
        if not spoken and not from_finalize:
            return  # too little to be speech (a click, a breath): part of the silence
        samples = np.zeros(0, np.float32)
        if spoken and start is not None:
            samples = self.buffer[start - self.buffer_start:end - self.buffer_start].copy()
        offset = start if spoken and start is not None else end
        self.jobs.append(DecodeJob(self.channel, samples, offset / SAMPLE_RATE, self.final_end / SAMPLE_RATE,
                                   end / SAMPLE_RATE, True, speech_final, from_finalize, self.clock()))
        self.final_end = self.last_interim = end

    def _cut(self, frame_end: int) -> None:
        """The utterance reached the maximum length: end it at the quietest recent frame."""
        assert self.utterance_start is not None
        first_frame = max(self.utterance_start, frame_end - CUT_SEARCH) // FRAME_SAMPLES + 1
        last_frame = frame_end // FRAME_SAMPLES
        offset = self.buffer_start // FRAME_SAMPLES
        window = self.probabilities[first_frame - offset:last_frame - offset]
        quietest = first_frame + (len(window) - 1 - int(np.argmin(window[::-1]))) if len(window) else last_frame - 1
        cut = quietest * FRAME_SAMPLES + FRAME_SAMPLES // 2
        later = self.probabilities[quietest + 1 - offset:last_frame - offset]
        self._end_utterance(cut, speech_final=False)
        speech_after = int(np.count_nonzero(later >= LIVE_RULES.onset))
        if speech_after or self.in_speech:  # the same speech goes on: no new SpeechStarted
            self.utterance_start, self.speech_frames = cut, max(speech_after, MIN_SPEECH_FRAMES)

    def _trim(self) -> None:
        keep = self.utterance_start if self.utterance_start is not None else self.vad_cursor - PRE_ROLL
        keep = max(self.buffer_start, min(keep, self.vad_cursor) // FRAME_SAMPLES * FRAME_SAMPLES)
        if keep > self.buffer_start:
            self.buffer = self.buffer[keep - self.buffer_start:]
            self.probabilities = self.probabilities[(keep - self.buffer_start) // FRAME_SAMPLES:]
            self.buffer_start = keep

    def finalize(self, from_finalize: bool = True) -> None:
        """Make everything received so far final (Finalize, or the end of the stream)."""
        if self.received > self.final_end and (from_finalize or self.utterance_start is not None):
            self._end_utterance(self.received, speech_final=False, from_finalize=from_finalize)
            self._trim()

    def next_job(self) -> DecodeJob | None:
        """The next decode: a final first, else an interim when one is due."""
        if self.jobs:
            self.final_in_flight = True
            return self.jobs.popleft()
        # Up to the VAD's cursor only: audio it has not judged yet may hold the start of speech.
        cursor, every = self.vad_cursor, int(self.options.interim_every * SAMPLE_RATE)
        if not self.options.interim_results or cursor - self.last_interim < every:
            return None
        self.last_interim = cursor - (cursor - self.last_interim) % every  # on a steady grid: no drift
        start = self.utterance_start
        speaking = start is not None and self.speech_frames >= MIN_SPEECH_FRAMES
        samples = self.buffer[start - self.buffer_start:cursor - self.buffer_start].copy() \
            if speaking and start is not None else np.zeros(0, np.float32)
        return DecodeJob(self.channel, samples, (start or 0) / SAMPLE_RATE, self.final_end / SAMPLE_RATE,
                         cursor / SAMPLE_RATE, False, queued_at=self.clock())

    def complete(self, job: DecodeJob, words: tuple[Word, ...]) -> list[StreamEvent]:
        """The decoded words of a job (times from the job's start): its result, and what follows."""
        shifted = tuple(replace(word, start=round(job.offset + word.start, 3),
                                end=round(min(job.offset + word.end, job.window_end), 3)) for word in words)
        result = StreamResult(self.channel, self.channels, round(job.window_start, 3),
                              round(job.window_end - job.window_start, 3), shifted, job.is_final, job.speech_final,
                              job.from_finalize)
        if job.is_final:
            self.final_in_flight = False
            if shifted:
                self.last_word_end, self.utterance_end_due = shifted[-1].end, True
        return [result, *self._utterance_end()]

    def _utterance_end(self) -> list[StreamEvent]:
        gap = self.options.utterance_end
        if gap is None or not self.utterance_end_due or self.last_word_end is None or self.jobs \
                or self.final_in_flight or self.utterance_start is not None:
            return []
        if self.received / SAMPLE_RATE - self.last_word_end < gap:
            return []
        self.utterance_end_due = False
        return [UtteranceEnd(self.channel, self.channels, self.last_word_end)]

    def oldest_wait(self) -> float:
        """Seconds the oldest waiting final has waited for a decode."""
        return self.clock() - self.jobs[0].queued_at if self.jobs else 0.0

    def close(self) -> None:
        self.vad.close()
