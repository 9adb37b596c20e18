"""The Transcriber: every front end's door, on the real engine."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import espeak, noise, speechlike, tone, write_wav
from whisper_api import DecodedAudio, TranscribeOptions, Transcriber
from whisper_api.errors import AudioDecodeError, ModelNotFoundError
from whisper_api.settings import load_settings

FAST = TranscribeOptions(temperature_fallback=False)


@pytest.fixture
def transcriber(micro_model: Path, home: Path) -> Transcriber:
    """A Transcriber whose default model is the micro model, installed under a custom name."""
    (home / "models").mkdir(parents=True)
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    return Transcriber(load_settings({"model": "micro"}))


def test_paths_bytes_streams_and_arrays_all_work(transcriber: Transcriber, speechlike_wav: Path) -> None:
    sources = [speechlike_wav, str(speechlike_wav), speechlike_wav.read_bytes(),
               io.BytesIO(speechlike_wav.read_bytes()), DecodedAudio.from_array(speechlike())]
    for source in sources:
        transcript = transcriber.transcribe(source, FAST)
        assert transcript.duration == 10.0
        assert transcript.model == "micro"
        assert transcript.segments


def test_multichannel_gives_each_channel_its_segments(transcriber: Transcriber, tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", [speechlike(seed=1), noise(10.0, seed=9)])
    transcript = transcriber.transcribe(stereo, TranscribeOptions(multichannel=True, temperature_fallback=False))
    assert transcript.channels == 2
    assert {segment.channel for segment in transcript.segments} == {0, 1}
    mixed = transcriber.transcribe(stereo, FAST)
    assert (mixed.channels, {s.channel for s in mixed.segments}) == (1, {0})


def test_progress_spans_all_channels(transcriber: Transcriber, tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", [tone(3.0), tone(3.0, 880)])
    seen: list[float] = []
    transcriber.transcribe(stereo, TranscribeOptions(multichannel=True, temperature_fallback=False),
                           progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert any(0.4 < fraction < 0.6 for fraction in seen)  # the first channel ends half way


def test_memory_stays_flat_however_long_the_recording(micro_model_en: Path, tmp_path: Path) -> None:
    """20 minutes peak within 30 MiB of 3 minutes (one piece): the recording is read and decoded three
    minutes at a time (holding it whole would add 77 MB of samples and 38 MB of spectrogram). No VAD
    model here, so every sample is decoded; the progress covers the pieces in order."""
    script = (
        "import resource, sys\n"
        "from whisper_api import TranscribeOptions, Transcriber\n"
        "seen = []\n"
        f"options = TranscribeOptions(model={str(micro_model_en)!r}, max_tokens=4, temperature_fallback=False)\n"
        "transcript = Transcriber().transcribe(sys.argv[1], options, progress=seen.append)\n"
        "assert seen == sorted(seen) and seen[-1] == 1.0, seen\n"
        "assert transcript.segments[-1].end > transcript.duration - 60, transcript.segments[-1]\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    recordings = [write_wav(tmp_path / f"{minutes}.wav", [np.tile(speechlike(), minutes * 6)]) for minutes in (3, 20)]
    peaks = [int(subprocess.run([sys.executable, "-c", script, str(wav)], capture_output=True, text=True,
                                check=True).stdout.split()[-1]) for wav in recordings]
    assert peaks[1] - peaks[0] < 30, peaks


def test_no_samples_give_no_segments(transcriber: Transcriber) -> None:
    seen: list[float] = []
    assert transcriber.transcribe(np.zeros(0, np.float32), FAST, progress=seen.append).segments == ()
    assert seen == sorted(seen)


def test_a_missing_model_fails_before_any_audio_is_read(transcriber: Transcriber) -> None:
    with pytest.raises(ModelNotFoundError, match=r"whisper-api models download base\.en"):
        transcriber.transcribe(b"not even audio", TranscribeOptions(model="base.en"))


def test_vad_without_a_vad_model_says_how_to_get_one(transcriber: Transcriber, speechlike_wav: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="models download silero-vad"):
        transcriber.transcribe(speechlike_wav, TranscribeOptions(vad=True))


def test_vad_model_from_the_models_folder(transcriber: Transcriber, shared: Path, home: Path) -> None:
    shutil.copyfile(shared / "models" / "for-tests-silero-v6.2.0-ggml.bin", home / "models" / "ggml-silero-v6.2.0.bin")
    speech = shared / "data" / "speech" / "jfk.wav"
    assert transcriber.transcribe(speech, TranscribeOptions(vad=True, temperature_fallback=False)).segments


def test_vad_finds_no_speech_in_tones_and_noise(transcriber: Transcriber, speechlike_wav: Path, shared: Path) -> None:
    vad = str(shared / "models" / "for-tests-silero-v6.2.0-ggml.bin")
    options = TranscribeOptions(vad=True, vad_model=vad, temperature_fallback=False)
    assert transcriber.transcribe(speechlike_wav, options).segments == ()


def test_bad_audio_is_a_decode_error(transcriber: Transcriber) -> None:
    with pytest.raises(AudioDecodeError, match="<bytes>"):
        transcriber.transcribe(b"\x00" * 1000, FAST)


def test_real_speech_with_a_random_model_has_sane_structure(transcriber: Transcriber, shared: Path) -> None:
    transcript = transcriber.transcribe(shared / "data" / "speech" / "jfk.wav", FAST)
    assert transcript.duration == 11.0
    assert all(0 <= word.start <= word.end <= 11.0 for word in transcript.words())


def test_the_module_level_function_keeps_its_transcriber(micro_model: Path) -> None:
    import whisper_api
    from whisper_api.core import default_transcriber

    transcript = whisper_api.transcribe(DecodedAudio.from_array(np.zeros(16000, np.float32)),
                                        TranscribeOptions(model=str(micro_model), temperature_fallback=False))
    assert transcript.duration == 1.0
    assert default_transcriber() is default_transcriber()


def test_generated_speech_where_espeak_is_installed(transcriber: Transcriber, tmp_path: Path) -> None:
    speech = espeak("The quick brown fox jumps over the lazy dog. Then it sleeps.", tmp_path / "fox.wav")
    if speech is None:
        pytest.skip("espeak-ng is not installed")
    transcript = transcriber.transcribe(speech, FAST)
    assert transcript.segments
    assert all(0 <= word.start <= word.end <= transcript.duration for word in transcript.words())


def test_importing_the_core_leaves_the_whisper_cpp_binding_unloaded() -> None:
    """The binding loads with the in-process engine or the VAD, not with ``import whisper_api``."""
    probe = "import sys, whisper_api, whisper_api.core; print('_pywhispercpp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
