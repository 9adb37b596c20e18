"""The native engine runs whisper.cpp for real on generated models.

The weights are random, so the words are noise; what is checked is everything around
them: structure, timing, confidences, caching, cancellation, progress, the GIL.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import noise, speechlike
from whisper_api.engine import Decoding, EngineJob, create_engine
from whisper_api.engine.native import NativeEngine
from whisper_api.errors import EngineError, InvalidOptionError, TranscriptionCancelled
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings

FAST = TranscribeOptions(temperature_fallback=False)


@pytest.fixture(scope="module")
def engine() -> NativeEngine:
    created = create_engine("native", load_settings())
    assert isinstance(created, NativeEngine)
    return created


def job(model: Path, audio: np.ndarray, options: TranscribeOptions = FAST, **extra: object) -> EngineJob:
    return EngineJob(audio=audio, model_path=model, decoding=Decoding.of(options), threads=2, **extra)  # type: ignore[arg-type]


def check_structure(segments: tuple[object, ...], duration: float) -> None:
    previous_start = 0.0
    for segment in segments:
        assert 0.0 <= segment.start <= segment.end <= duration  # type: ignore[attr-defined]
        assert segment.start >= previous_start  # type: ignore[attr-defined]
        previous_start = segment.start  # type: ignore[attr-defined]
        assert segment.words  # type: ignore[attr-defined]
        for word in segment.words:  # type: ignore[attr-defined]
            assert word.text == word.text.strip() and word.text
            assert segment.start <= word.start <= word.end <= segment.end  # type: ignore[attr-defined]
            assert 0.0 <= word.confidence <= 1.0


def test_transcribes_with_timed_words(engine: NativeEngine, micro_model: Path) -> None:
    audio = speechlike()
    result = engine.transcribe(job(micro_model, audio))
    assert result.segments
    check_structure(result.segments, len(audio) / 16000)


def test_long_audio_spans_several_windows_in_order(engine: NativeEngine, micro_model: Path) -> None:
    audio = np.concatenate([speechlike(seed=seed) for seed in range(4)])  # 48 s: two 30 s windows
    result = engine.transcribe(job(micro_model, audio))
    check_structure(result.segments, len(audio) / 16000)
    assert result.segments[-1].end > 30.0


def test_beam_search_and_fallback_run(engine: NativeEngine, micro_model: Path) -> None:
    options = TranscribeOptions(beam_size=3, best_of=2, temperature_fallback=True)
    check_structure(engine.transcribe(job(micro_model, speechlike(1.0), options)).segments, 6.0)


def test_without_word_timestamps_words_share_their_segment(engine: NativeEngine, micro_model: Path) -> None:
    result = engine.transcribe(job(micro_model, speechlike(), TranscribeOptions(word_timestamps=False,
                                                                               temperature_fallback=False)))
    check_structure(result.segments, 10.0)


def test_model_stays_loaded_between_jobs(engine: NativeEngine, micro_model: Path) -> None:
    first = engine.model(micro_model)
    engine.transcribe(job(micro_model, noise(1.0)))
    assert engine.model(micro_model) is first


def test_a_replaced_model_file_is_reloaded(engine: NativeEngine, micro_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ggml-copy.bin"
    shutil.copyfile(micro_model, copy)
    first = engine.model(copy)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # as a re-download would
    assert engine.model(copy) is not first
    assert first.ctx is None  # the stale context was freed


def test_language_is_detected_with_a_probability(engine: NativeEngine, micro_model: Path) -> None:
    result = engine.transcribe(job(micro_model, speechlike()))
    assert result.language and result.language != "auto"
    assert result.language_confidence is not None
    assert 0.0 < result.language_confidence <= 1.0


def test_a_given_language_is_used_and_unknown_ones_rejected(engine: NativeEngine, micro_model: Path) -> None:
    result = engine.transcribe(job(micro_model, noise(1.0), TranscribeOptions(language="de",
                                                                             temperature_fallback=False)))
    assert (result.language, result.language_confidence) == ("de", None)
    with pytest.raises(InvalidOptionError, match="unknown language 'xx'"):
        engine.transcribe(job(micro_model, noise(1.0), TranscribeOptions(language="xx")))


def test_english_only_models_refuse_other_languages_and_translation(
    engine: NativeEngine, micro_model_en: Path
) -> None:
    assert engine.transcribe(job(micro_model_en, noise(1.0))).language == "en"
    with pytest.raises(InvalidOptionError, match="English-only"):
        engine.transcribe(job(micro_model_en, noise(1.0), TranscribeOptions(language="fr")))
    with pytest.raises(InvalidOptionError, match="cannot translate"):
        engine.transcribe(job(micro_model_en, noise(1.0), TranscribeOptions(translate=True)))


def test_progress_reaches_the_end_in_order(engine: NativeEngine, micro_model: Path) -> None:
    seen: list[float] = []
    engine.transcribe(job(micro_model, np.concatenate([speechlike(seed=s) for s in range(3)]), progress=seen.append))
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


def test_cancel_before_start_stops_at_once(engine: NativeEngine, micro_model: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscriptionCancelled):
        engine.transcribe(job(micro_model, noise(60.0), cancel=cancel))


def test_cancel_from_another_thread_stops_a_running_job(engine: NativeEngine, micro_model: Path) -> None:
    cancel = threading.Event()
    started = threading.Event()

    def progress(fraction: float) -> None:
        started.set()

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(engine.transcribe, job(micro_model, noise(300.0), cancel=cancel, progress=progress))
        started.wait(60)
        cancel.set()
        with pytest.raises(TranscriptionCancelled):
            future.result(60)
    # the model is free again afterwards
    assert engine.transcribe(job(micro_model, noise(1.0))).language


def test_inference_releases_the_gil(engine: NativeEngine, micro_model: Path) -> None:
    """While whisper.cpp decodes in a worker thread, Python code keeps running in this one."""
    with ThreadPoolExecutor(1) as pool:
        long_audio = np.concatenate([speechlike(seed=seed) for seed in range(8)])
        future = pool.submit(engine.transcribe, job(micro_model, long_audio))
        python_steps = 0
        while not future.done():
            python_steps += 1
            threading.Event().wait(0.001)
        future.result()
    assert python_steps > 20


def test_a_corrupt_model_is_an_error_not_a_crash(engine: NativeEngine, micro_model: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "ggml-broken.bin"
    truncated.write_bytes(micro_model.read_bytes()[: 1_000_000])
    with pytest.raises(EngineError, match="cannot load model"):
        engine.transcribe(job(truncated, noise(1.0)))
    header_only = tmp_path / "ggml-header.bin"  # whisper.cpp would load this as an "empty model for testing"
    header_only.write_bytes(micro_model.read_bytes()[:60])
    with pytest.raises(EngineError, match="holds no weights"):
        engine.transcribe(job(header_only, noise(1.0)))
    garbage = tmp_path / "ggml-garbage.bin"
    garbage.write_bytes(b"not a model" * 100)
    with pytest.raises(EngineError, match="cannot load model"):
        engine.transcribe(job(garbage, noise(1.0)))


def test_silence_and_tiny_clips_are_fine(engine: NativeEngine, micro_model: Path) -> None:
    for audio in (np.zeros(16000, np.float32), np.zeros(160, np.float32)):
        check_structure(engine.transcribe(job(micro_model, audio)).segments, len(audio) / 16000)


def test_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(InvalidOptionError, match="available: cli, native"):
        create_engine("nope", load_settings())


def test_at_most_max_models_stay_loaded(micro_model: Path, micro_model_en: Path, tmp_path: Path) -> None:
    engine = NativeEngine(max_models=2)
    third = tmp_path / "ggml-third.bin"
    shutil.copyfile(micro_model, third)
    first, second = engine.model(micro_model), engine.model(micro_model_en)
    engine.model(micro_model)  # used again: now the most recent
    engine.model(third)
    assert second.ctx is None  # the least recently used went
    assert first.ctx is not None
    assert engine.transcribe(job(micro_model_en, noise(1.0))).language == "en"  # reloaded on demand
    engine.close()


def test_a_model_evicted_while_busy_is_freed_when_its_job_ends(micro_model: Path, micro_model_en: Path) -> None:
    engine = NativeEngine(max_models=1)
    busy = engine.model(micro_model)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(engine.transcribe, job(micro_model, noise(60.0)))
        while not busy.lock.locked():
            threading.Event().wait(0.01)
        engine.model(micro_model_en)  # evicts the busy model without waiting for it
        assert busy.retired and busy.ctx is not None
        running.result(120)
    assert busy.ctx is None
    engine.close()
