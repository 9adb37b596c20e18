"""The in-process engine: whisper.cpp through pywhispercpp's low-level binding.

Models stay loaded between jobs (cached by file identity and context settings). One
whisper.cpp context runs one job at a time, so each loaded model has a lock. whisper_full
releases the GIL, so a job in a worker thread leaves the caller's event loop free.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pywhispercpp as pw

from whisper_api.audio import SAMPLE_RATE
from whisper_api.engine import whispercpp_log
from whisper_api.engine.base import DecodeProgress, EngineJob, EngineResult, resolve_language
from whisper_api.engine.tokens import Token, build_segment
from whisper_api.engine.weights import STORED, Weights, weights_for
from whisper_api.errors import EngineError, TranscriptionCancelled
from whisper_api.transcript import Segment

TICK = 0.01  # whisper.cpp times are in 10 ms ticks
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextSettings:
    """Model-load settings; None keeps whisper.cpp's default (flash attention is on in 1.8)."""

    use_gpu: bool | None = None
    flash_attn: bool | None = None


@dataclass(frozen=True)
class _ModelKey:
    path: Path
    mtime_ns: int
    size: int
    context: ContextSettings


class LoadedModel:
    """A whisper.cpp context and the lock that serialises its jobs."""

    def __init__(self, weights: Weights, context: ContextSettings) -> None:
        path = weights.path
        params = pw.whisper_context_default_params()
        if context.use_gpu is not None:
            params.use_gpu = context.use_gpu
        if context.flash_attn is not None:
            params.flash_attn = context.flash_attn
        if weights.decoder_type is not None:
            params.decoder_type = weights.decoder_type
        with whispercpp_log.capture() as lines:
            ctx = pw.whisper_init_from_file_with_params(str(path), params)
        problems = whispercpp_log.errors(lines)
        if problems:  # whisper.cpp returned NULL: the context must never be used
            raise EngineError(f"cannot load model {path}: {problems[0]}")
        if whispercpp_log.loaded_no_weights(lines):  # a header and nothing after it: whisper.cpp's test mode
            pw.whisper_free(ctx)
            raise EngineError(f"cannot load model {path}: the file holds no weights (cut short?)")
        self.ctx: Any = ctx
        self.path = path
        self.multilingual = bool(pw.whisper_is_multilingual(ctx))
        self.lock = threading.Lock()
        self.retired = False
        """Dropped from the cache while a job ran on it: that job frees it when it ends."""

    def free(self) -> None:
        with self.lock:
            self.free_locked()

    def free_locked(self) -> None:
        if self.ctx is not None:
            pw.whisper_free(self.ctx)
            self.ctx = None

    def retire(self) -> None:
        """Free now if idle, else when the running job ends (never wait for it here)."""
        if self.lock.acquire(blocking=False):
            try:
                self.free_locked()
            finally:
                self.lock.release()
        else:
            self.retired = True


def binding_quantizes_decoder() -> bool:
    """Whether this binding can quantize a model's decoder as it loads (one whisper-api built does)."""
    return hasattr(pw.whisper_context_default_params(), "decoder_type")


class NativeEngine:
    name = "native"

    def __init__(self, context: ContextSettings | None = None, max_models: int = 2, weights: str = STORED) -> None:
        """``weights``: the setting's choice; ``STORED`` unless asked, so an engine made directly (tests,
        benchmarks) runs exactly the file it is given."""
        whispercpp_log.install()
        self.context = context or ContextSettings()
        self.weights = weights
        self.max_models = max_models
        """Models kept loaded at once; the least recently used goes first (each holds its weights)."""
        self._models: OrderedDict[_ModelKey, LoadedModel] = OrderedDict()
        self._models_lock = threading.Lock()

    def model(self, path: Path) -> LoadedModel:
        """The loaded model for a file, loading it on first use or after the file changed."""
        stat = path.stat()
        key = _ModelKey(path.resolve(), stat.st_mtime_ns, stat.st_size, self.context)
        with self._models_lock:
            if key not in self._models:
                stale = [k for k in self._models if k.path == key.path]  # the same file, since replaced
                others = [k for k in self._models if k.path != key.path]  # least recently used first
                for old in stale + others[: max(0, len(others) + 1 - self.max_models)]:
                    self._models.pop(old).retire()
                self._models[key] = self._load(key.path)
            self._models.move_to_end(key)
            return self._models[key]

    def _load(self, path: Path) -> LoadedModel:
        """``path`` loaded in the form the setting picks; as stored if that form does not load."""
        stored = Weights(path)
        chosen = weights_for(path, self.weights, str(pw.whisper_print_system_info()), binding_quantizes_decoder())
        if chosen == stored:
            return LoadedModel(stored, self.context)
        try:
            return LoadedModel(chosen, self.context)
        except EngineError as exc:
            _log.warning("running %s as stored: %s does not load (%s)", path.name, chosen, exc)
            return LoadedModel(stored, self.context)

    def preload(self, model_path: Path) -> None:
        self.model(model_path)

    def close(self) -> None:
        with self._models_lock:
            for model in self._models.values():
                model.free()
            self._models.clear()

    def transcribe(self, job: EngineJob) -> EngineResult:
        while True:
            model = self.model(job.model_path)
            with model.lock:
                if model.ctx is None:  # freed after our look-up (reloaded or evicted): look it up again
                    continue
                try:
                    known = lambda code: pw.whisper_lang_id(code) >= 0  # noqa: E731
                    language = resolve_language(job.decoding, model.multilingual, known)
                    return self._run(model, job, _full_params(job, language), language)
                finally:
                    if model.retired:
                        model.free_locked()

    def _run(self, model: LoadedModel, job: EngineJob, params: Any, language: str) -> EngineResult:
        with whispercpp_log.capture() as lines:
            status = pw.whisper_full(model.ctx, params, job.audio, job.audio.size)
            if job.cancel is not None and job.cancel.is_set():
                raise TranscriptionCancelled("transcription cancelled")
            if status != 0:
                detail = whispercpp_log.errors(lines)
                raise EngineError(f"whisper.cpp failed (code {status}){': ' + detail[0] if detail else ''}")
            segments = _read_segments(model.ctx, job.audio.size / SAMPLE_RATE, job.decoding.word_timestamps)
            detected = pw.whisper_lang_str(pw.whisper_full_lang_id(model.ctx))
        logged = (text for _, text in lines)
        confidence = whispercpp_log.detected_language_probability(logged) if language == "auto" else None
        return EngineResult(segments, detected or language, confidence)


def _full_params(job: EngineJob, language: str) -> Any:
    options = job.decoding
    beam = options.beam_size > 1
    strategy = pw.whisper_sampling_strategy
    params = pw.whisper_full_default_params(
        strategy.WHISPER_SAMPLING_BEAM_SEARCH if beam else strategy.WHISPER_SAMPLING_GREEDY
    )
    params.n_threads = job.threads
    params.language = language
    params.translate = options.translate
    params.token_timestamps = options.word_timestamps and options.timestamps
    params.no_timestamps = not options.timestamps
    params.audio_ctx = options.audio_context
    params.max_tokens = options.max_tokens
    params.temperature = options.temperature
    params.temperature_inc = 0.2 if options.temperature_fallback else 0.0
    params.greedy = {"best_of": options.best_of}
    thresholds = options.thresholds
    params.no_speech_thold = thresholds.no_speech
    params.logprob_thold = thresholds.logprob
    params.entropy_thold = thresholds.entropy
    if beam:
        params.beam_search = {"beam_size": options.beam_size, "patience": -1.0}
    if options.initial_prompt:
        params.initial_prompt = options.initial_prompt
    params.print_realtime = False
    params.print_timestamps = False
    # The binding calls a Python progress callback only while print_progress is on.
    params.print_progress = job.progress is not None
    if job.progress is not None:
        progress = DecodeProgress(job.progress, job.audio.size / SAMPLE_RATE)
        pw.assign_progress_callback(params, progress.percent)
        pw.assign_new_segment_callback(params, lambda ctx, _new: progress.segment_ended(_last_segment_end(ctx)))
    if job.cancel is not None:
        pw.assign_abort_callback(params, job.cancel.is_set)
    return params


def _last_segment_end(ctx: Any) -> float:
    count = pw.whisper_full_n_segments(ctx)
    return float(pw.whisper_full_get_segment_t1(ctx, count - 1) * TICK) if count else 0.0


def _read_segments(ctx: Any, duration: float, word_timestamps: bool) -> tuple[Segment, ...]:
    eot = pw.whisper_token_eot(ctx)
    segments = []
    for index in range(pw.whisper_full_n_segments(ctx)):
        tokens = []
        for position in range(pw.whisper_full_n_tokens(ctx, index)):
            data = pw.whisper_full_get_token_data(ctx, index, position)
            if data.id < eot:  # ids from eot up are special: timestamps, language, task
                text = pw.whisper_token_to_bytes(ctx, data.id)
                tokens.append(Token(text, data.t0 * TICK, data.t1 * TICK, data.p))
        segment = build_segment(pw.whisper_full_get_segment_t0(ctx, index) * TICK,
                                pw.whisper_full_get_segment_t1(ctx, index) * TICK, tokens, duration, word_timestamps)
        if segment is not None:
            segments.append(segment)
    return tuple(segments)
