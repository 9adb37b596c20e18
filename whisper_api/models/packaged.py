"""Model files that ship inside Python packages, fetched with ``pip download``.

pip uses whatever index, proxy and certificates the user has configured (``PIP_INDEX_URL``,
``pip.conf``), which is often the one route to the outside a locked-down machine has. pip checks the
archive against its pinned SHA-256 (``--require-hashes``) before doing anything with it, which
matters for a source distribution: pip runs its build backend to read its metadata. Then the one
member is read from the archive and checked against its own pinned SHA-256; nothing from the
archive is installed or imported.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from whisper_api.errors import ChecksumMismatchError, ModelDownloadError

PIP_TIMEOUT = 600


@dataclass(frozen=True)
class Archive:
    """One pinned release file of a package on the package index."""

    package: str
    version: str
    sha256: str
    source_distribution: bool = False
    """The ``.tar.gz`` source distribution rather than the wheel."""
    platform: str | None = None
    """For a platform wheel: its platform tag (the data inside is read, the package never runs, so
    the same pinned file is fetched on any machine, for CPython 3.11)."""

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


PYWHISPERCPP_SOURCE = Archive("pywhispercpp", "1.5.1",
                              "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5", True)
"""The pinned pywhispercpp source distribution: the whole whisper.cpp tree the native engine runs
(the whisper-cli build compiles it) and, inside it, the real Silero VAD model."""
WHISPER_CPP_IN_SOURCE = "1.8.5"
"""The whisper.cpp version inside that source (and inside the matching pywhispercpp wheels)."""


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a pinned archive."""

    archive: Archive
    member: str
    """The member's path inside the archive (for a source distribution, below its top folder)."""
    member_sha256: str

    @property
    def requirement(self) -> str:
        return self.archive.requirement


def download_archive(source: Archive, folder: Path) -> Path:
    """The archive, downloaded by pip into ``folder`` and checked against its pin."""
    binary = ["--no-binary", source.package] if source.source_distribution else ["--only-binary", ":all:"]
    if source.platform is not None:
        binary += ["--platform", source.platform, "--python-version", "3.11"]
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{source.requirement} --hash=sha256:{source.sha256}\n", encoding="utf-8")
    destination = folder / "archive"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               *binary, "--require-hashes", "--requirement", str(requirements), "--dest", str(destination)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelDownloadError(f"pip download {source.requirement} failed: {exc}") from exc
    if "DO NOT MATCH THE HASHES" in result.stderr:
        raise ChecksumMismatchError(f"checksum mismatch for {source.requirement} from the package index: "
                                    f"expected sha256 {source.sha256}")
    if result.returncode != 0:
        reason = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
        raise ModelDownloadError(f"pip download {source.requirement} failed: {reason}")
    archives = sorted(path for path in destination.iterdir() if path.is_file())
    if len(archives) != 1:
        raise ModelDownloadError(f"pip download {source.requirement} gave {len(archives)} files, expected one")
    return archives[0]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_member(archive: Path, member: str) -> bytes:
    try:
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as wheel:
                return wheel.read(member)
        with tarfile.open(archive, "r:gz") as sdist:
            names = [name for name in sdist.getnames() if name.partition("/")[2] == member]
            handle = sdist.extractfile(names[0]) if names else None
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError as exc:
        raise ModelDownloadError(f"{archive.name} does not contain {member}") from exc
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise ModelDownloadError(f"{archive.name} cannot be read: {exc}") from exc


def fetch_packaged(source: PackagedFile, *others: str, checked: tuple[PackagedFile, ...] = ()) -> dict[str, bytes]:
    """The member's bytes (checked against its pin), those of any ``checked`` members of the same
    archive (each checked too), and any ``others`` (a licence text, say: the archive's own checksum
    already vouches for them); one download."""
    pinned = (source, *checked)
    with tempfile.TemporaryDirectory(prefix="whisper-api-pip-") as folder:
        archive = download_archive(source.archive, Path(folder))
        members = {name: _read_member(archive, name) for name in (*(file.member for file in pinned), *others)}
    for file in pinned:
        if _sha256(members[file.member]) != file.member_sha256:
            raise ChecksumMismatchError(f"checksum mismatch for {file.member} in {file.requirement}: "
                                        f"expected sha256 {file.member_sha256}, got {_sha256(members[file.member])}")
    return members


@dataclass(frozen=True)
class PackagedCheckpoint:
    """A CTranslate2 (faster-whisper) model folder spread over pinned archives: each file of the folder
    is the concatenation of archive members (a model split across two wheels), checked against its pin."""

    archives: tuple[Archive, ...]
    files: tuple[tuple[str, str, tuple[str, ...]], ...]
    """(file name, its SHA-256, the members that make it, in order: "<archive index>:<member path>"): the
    whole faster-whisper folder, so faster-whisper itself can run it too (the benchmarks' peer)."""
    converted_sha256: str
    """The GGML file the conversion writes (it is deterministic), so the result is checked as well."""
    origin: str

    @property
    def requirement(self) -> str:
        return " + ".join(archive.requirement for archive in self.archives)


def fetch_checkpoint(source: PackagedCheckpoint, folder: Path) -> Path:
    """Download the archives and lay out the checkpoint's files in ``folder``, each checked."""
    archives = []
    for number, pinned in enumerate(source.archives):
        place = folder / f"archive-{number}"
        place.mkdir(parents=True)
        archives.append(download_archive(pinned, place))
    checkpoint = folder / "checkpoint"
    checkpoint.mkdir()
    for name, sha256, members in source.files:
        digest = hashlib.sha256()
        with (checkpoint / name).open("wb") as out:
            for member in members:
                archive, _, path = member.partition(":")
                data = _read_member(archives[int(archive)], path)
                digest.update(data)
                out.write(data)
        if digest.hexdigest() != sha256:
            raise ChecksumMismatchError(f"checksum mismatch for {name} from {source.requirement}: "
                                        f"expected sha256 {sha256}, got {digest.hexdigest()}")
    return checkpoint


@contextmanager
def replaced_when_done(destination: Path, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """A ``.part`` file beside ``destination`` to write; when the block ends well and ``check``
    (loading it in whisper.cpp, say) accepts it, it becomes ``destination``; otherwise it is removed."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    try:
        yield part
        if check is not None:
            check(part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(destination)


def write_atomically(destination: Path, data: bytes) -> Path:
    """Write through a ``.part`` file and one rename, so a half-written model is never loaded."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    with part.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    part.replace(destination)
    return destination
