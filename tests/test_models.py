"""The model catalogue, the models folder, and downloads from a local HTTP server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.support.http_server import ServedFiles, serve
from whisper_api.errors import ChecksumMismatchError, ModelDownloadError, ModelNotFoundError
from whisper_api.models import MODELS, ModelStore, catalogue_model
from whisper_api.models.download import Expected, download_file

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # several chunks, not a whole number of them


def expected_for(data: bytes) -> Expected:
    return Expected(len(data), hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest())


def test_catalogue_has_the_official_models_with_checksums() -> None:
    names = [model.name for model in MODELS]
    assert len(names) == len(set(names))
    for name in ("tiny", "tiny.en", "base.en", "small", "medium.en", "large-v3", "large-v3-turbo",
                 "large-v3-turbo-q5_0", "tiny-q5_1", "silero-vad"):
        assert name in names
    for model in MODELS:
        assert len(model.sha256) == 64 and len(model.sha1) == 40
        assert model.url().startswith("https://huggingface.co/") and model.url().endswith(model.filename)
    assert catalogue_model("base.en").url("http://mirror/x/") == "http://mirror/x/ggml-base.en.bin"  # type: ignore[union-attr]


def test_store_resolves_names_paths_and_explains_misses(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    (tmp_path / "ggml-custom.bin").write_bytes(b"x")
    assert store.resolve("custom") == tmp_path / "ggml-custom.bin"
    assert store.resolve(str(tmp_path / "ggml-custom.bin")) == tmp_path / "ggml-custom.bin"
    with pytest.raises(ModelNotFoundError, match=r"fetch it with: whisper-api models download tiny\.en"):
        store.resolve("tiny.en")
    with pytest.raises(ModelNotFoundError, match=r"did you mean 'base\.en'"):
        store.resolve("bse.en")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        store.resolve("./missing.bin")
    assert [model.name for model in store.installed()] == ["custom"]
    store.remove("custom")
    assert store.installed() == []


def test_download_verifies_and_reports_progress(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with serve(ServedFiles({"/m.bin": PAYLOAD})) as url:
        path = download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD),
                             lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert not (tmp_path / "m.bin.part").exists()


def test_a_dropped_connection_keeps_the_partial_file_and_the_next_run_resumes(tmp_path: Path) -> None:
    served = ServedFiles({"/m.bin": PAYLOAD}, drop_after=1_500_000)
    with serve(served) as url:
        with pytest.raises(ModelDownloadError, match="run the same command again to resume"):
            download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
        assert not (tmp_path / "m.bin").exists()
        part_size = (tmp_path / "m.bin.part").stat().st_size
        assert 0 < part_size < len(PAYLOAD)
        download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
    assert (tmp_path / "m.bin").read_bytes() == PAYLOAD
    assert served.requests[-1] == ("/m.bin", f"bytes={part_size}-")


def test_a_server_without_range_support_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / "m.bin.part").write_bytes(PAYLOAD[:1000])
    with serve(ServedFiles({"/m.bin": PAYLOAD}, honour_range=False)) as url:
        download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
    assert (tmp_path / "m.bin").read_bytes() == PAYLOAD


def test_a_checksum_mismatch_deletes_the_file_and_says_so(tmp_path: Path) -> None:
    tampered = PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1])
    with serve(ServedFiles({"/m.bin": tampered})) as url, pytest.raises(ChecksumMismatchError, match="expected sha256"):
        download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_size_is_caught_before_hashing(tmp_path: Path) -> None:
    with serve(ServedFiles({"/m.bin": PAYLOAD + b"extra"})) as url, pytest.raises(ChecksumMismatchError,
                                                                                  match="bytes"):
        download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))


def test_http_errors_and_unreachable_servers_are_clear(tmp_path: Path) -> None:
    with serve(ServedFiles()) as url, pytest.raises(ModelDownloadError, match="HTTP 404"):
        download_file(f"{url}/missing.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
    with pytest.raises(ModelDownloadError, match=r"cannot connect to 127\.0\.0\.1 .*WHISPER_API_MODELS_URL"):
        download_file("http://127.0.0.1:9/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))


def test_a_complete_part_file_is_verified_without_downloading(tmp_path: Path) -> None:
    (tmp_path / "m.bin.part").write_bytes(PAYLOAD)
    served = ServedFiles()
    with serve(served) as url:
        download_file(f"{url}/m.bin", tmp_path / "m.bin", expected_for(PAYLOAD))
    assert served.requests == []
    assert (tmp_path / "m.bin").read_bytes() == PAYLOAD
