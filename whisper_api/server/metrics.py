"""Prometheus metrics: one registry per server, served at ``GET /metrics``.

Labels hold routes (templates, never raw paths), methods, status codes, error codes and
priorities only: never a key id, a secret, a file name or a URL, so the series stay few and
a scrape reveals nothing about callers.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from whisper_api.server.admission import BATCH, CALLBACK_JOB, LIVE_FINAL, LIVE_INTERIM

PREFIX = "whisper_api"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
# A *_created series per counter doubles a scrape for nothing dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]

PRIORITY_NAMES = {LIVE_FINAL: "live_final", LIVE_INTERIM: "live_interim", BATCH: "batch", CALLBACK_JOB: "callback"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(f"{PREFIX}_requests", "HTTP requests and WebSocket handshakes, by route and status.",
                                ["route", "method", "status"], registry=registry)
        self.request_seconds = Histogram(f"{PREFIX}_request_duration_seconds", "HTTP request time, by route.",
                                         ["route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.errors = Counter(f"{PREFIX}_errors", "Error responses, by error code.", ["code"], registry=registry)
        self.audio_seconds = Counter(f"{PREFIX}_audio_seconds", "Seconds of audio transcribed, by source.",
                                     ["source"], registry=registry)
        self.real_time_factor = Histogram(f"{PREFIX}_real_time_factor", "Transcription time over audio duration, "
                                          "per pre-recorded transcription (below 1 is faster than real time).",
                                          buckets=RTF_BUCKETS, registry=registry)
        self.queue_wait = Histogram(f"{PREFIX}_queue_wait_seconds", "Time waiting for a worker, by priority.",
                                    ["priority"], buckets=LATENCY_BUCKETS, registry=registry)
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth", "Jobs waiting for a worker.", registry=registry)
        self.busy_workers = Gauge(f"{PREFIX}_workers_busy", "Workers running a job.", registry=registry)
        self.active_streams = Gauge(f"{PREFIX}_active_streams", "Live WebSocket streams open.", registry=registry)
        self.pending_jobs = Gauge(f"{PREFIX}_callback_jobs_pending", "Callback jobs not yet finished.",
                                  registry=registry)
        self.callbacks = Counter(f"{PREFIX}_callback_deliveries", "Callback delivery attempts, by outcome.",
                                 ["outcome"], registry=registry)
        self.first_interim = Histogram(f"{PREFIX}_stream_first_interim_seconds", "Live: from a stream's first "
                                       "audio to its first interim result.", buckets=LATENCY_BUCKETS, registry=registry)
        self.speech_end_to_final = Histogram(f"{PREFIX}_stream_speech_end_to_final_seconds", "Live: from the arrival "
                                             "of the audio that ends a final result's last word to that result.",
                                             buckets=LATENCY_BUCKETS, registry=registry)
        self.model_load = Histogram(f"{PREFIX}_model_load_seconds", "Time to load a model into a worker.",
                                    buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0), registry=registry)

    def watch(self, queue_depth: Callable[[], float], busy_workers: Callable[[], float],
              pending_jobs: Callable[[], float]) -> None:
        """Read these gauges from their owners at scrape time."""
        self.queue_depth.set_function(queue_depth)
        self.busy_workers.set_function(busy_workers)
        self.pending_jobs.set_function(pending_jobs)

    def waited(self, priority: int, seconds: float) -> None:
        self.queue_wait.labels(PRIORITY_NAMES[priority]).observe(seconds)

    def transcribed(self, source: str, audio_seconds: float, processing_seconds: float | None = None) -> None:
        self.audio_seconds.labels(source).inc(audio_seconds)
        if processing_seconds is not None and audio_seconds > 0:
            self.real_time_factor.observe(processing_seconds / audio_seconds)


class StreamTimer:
    """When each point of a live stream's audio arrived, to time its results against it."""

    MAX_MARKS = 20_000

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._seconds: list[float] = []
        self._arrived: list[float] = []
        self._interim_seen = False

    def audio(self, stream_seconds: float) -> None:
        """The stream has received audio up to ``stream_seconds``."""
        if len(self._seconds) >= self.MAX_MARKS:  # keep the recent half: finals are about recent audio
            del self._seconds[: self.MAX_MARKS // 2], self._arrived[: self.MAX_MARKS // 2]
        self._seconds.append(stream_seconds)
        self._arrived.append(time.monotonic())

    def interim(self) -> None:
        if not self._interim_seen and self._arrived:
            self._interim_seen = True
            self.metrics.first_interim.observe(time.monotonic() - self._arrived[0])

    def final(self, speech_end: float) -> None:
        index = bisect.bisect_left(self._seconds, speech_end)
        if index < len(self._arrived):
            self.metrics.speech_end_to_final.observe(time.monotonic() - self._arrived[index])
