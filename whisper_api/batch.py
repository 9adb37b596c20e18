"""Bulk transcription of an archive: which inputs there are, where each one's results go, which
are done already, and writing results so that a killed run leaves no half-written file.

The inputs (files, folders searched for audio and video, glob patterns, URLs) are named by their
path relative to the folder they all share, so ``a/talk.wav`` and ``b/talk.wav`` write
``OUT/a/talk.json`` and ``OUT/b/talk.json``; two inputs that differ only in their extension
(``talk.mp3``, ``talk.wav``) keep it (``talk.mp3.json``). An input whose every requested result
exists is done: a rerun skips it, so a run stopped half-way resumes where it stopped. Who
transcribes (this process, or the task queue's workers) is the caller's business.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from whisper_api.errors import InvalidOptionError, TranscriptionCancelled, WhisperApiError
from whisper_api.formats import FORMATTERS
from whisper_api.options import DiarizeOptions, SpeakerCount, TranscribeOptions
from whisper_api.transcript import Transcript

if TYPE_CHECKING:
    from whisper_api.core import Transcriber

MEDIA_SUFFIXES = frozenset({".aac", ".aif", ".aiff", ".amr", ".flac", ".m4a", ".mka", ".mkv", ".mov", ".mp3", ".mp4",
                            ".oga", ".ogg", ".opus", ".wav", ".weba", ".webm", ".wma", ".wmv"})
"""What a folder given as an input is searched for (recursively)."""
DOWNLOAD_TIMEOUT = 60.0
"""Seconds a URL input may send nothing before its download fails."""
HASH_BLOCK = 1 << 20


class BatchInputError(WhisperApiError):
    """An input could not be read or fetched (that input fails; the others go on)."""


@dataclass(frozen=True)
class BatchItem:
    source: str
    """A local path or an http(s) URL."""
    name: str
    """The results' path under the output folder, without the format's extension."""

    @property
    def is_url(self) -> bool:
        return is_url(self.source)


@dataclass(frozen=True)
class BatchRequest:
    """What every input of a batch is transcribed with: plain data, so a task on the queue carries it."""

    formats: tuple[str, ...] = ("json",)
    model: str | None = None
    language: str | None = None
    diarize: bool = False
    speakers: int | None = None

    def options(self) -> TranscribeOptions:
        diarize = DiarizeOptions(speakers=SpeakerCount(self.speakers)) if self.diarize else None
        return TranscribeOptions(model=self.model, language=self.language, diarize=diarize)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchRequest:
        return cls(**{**data, "formats": tuple(data["formats"])})


@dataclass(frozen=True)
class Outcome:
    """One input's end: its results by format, or why it failed."""

    item: BatchItem
    texts: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    """The audio's duration."""
    error: str | None = None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def expand(arguments: Iterable[str]) -> list[str]:
    """Files, the media files under folders, glob matches and URLs, each once, in the order given."""
    found: dict[str, None] = {}
    for given in arguments:
        argument = given.strip()
        if not argument or argument.startswith("#"):
            continue
        if is_url(argument):
            found[argument] = None
        elif Path(argument).is_dir():
            found.update(dict.fromkeys(str(path) for path in sorted(Path(argument).rglob("*"))
                                       if path.suffix.lower() in MEDIA_SUFFIXES and path.is_file()))
        elif Path(argument).exists():
            found[argument] = None
        elif glob.has_magic(argument):
            matches = sorted(path for path in glob.glob(argument, recursive=True) if Path(path).is_file())  # noqa: PTH207 (absolute patterns too)
            if not matches:
                raise InvalidOptionError(f"{argument}: no file matches")
            found.update(dict.fromkeys(matches))
        else:
            raise InvalidOptionError(f"{argument}: no such file or folder")
    return list(found)


def _url_stem(url: str) -> str:
    last = Path(unquote(urlsplit(url).path)).name
    return Path(last).stem or "download"


def plan(sources: Sequence[str]) -> list[BatchItem]:
    """A result name for each source, none shared by two sources."""
    files = {source: Path(source).resolve() for source in sources if not is_url(source)}
    root = Path(os.path.commonpath([path.parent for path in files.values()])) if files else Path()
    names = {}
    for source in sources:
        if is_url(source):
            names[source] = _url_stem(source)
        else:
            names[source] = str(files[source].relative_to(root).with_suffix(""))
    taken = Counter(names.values())
    for source, name in names.items():
        if taken[name] > 1:  # talk.mp3 and talk.wav: each keeps its extension; URLs their digest
            suffix = Path(urlsplit(source).path).suffix if is_url(source) else Path(source).suffix
            names[source] = name + (suffix if suffix and not is_url(source) else f"-{digest(source.encode())[:8]}")
    return [BatchItem(source, names[source]) for source in sources]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of the file's contents: what names its audio on the queue, so a rerun finds it."""
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


def targets(out: Path, item: BatchItem, formats: Sequence[str]) -> list[Path]:
    return [out / f"{item.name}.{fmt}" for fmt in formats]


def is_done(out: Path, item: BatchItem, formats: Sequence[str]) -> bool:
    return all(target.is_file() for target in targets(out, item, formats))


def check_formats(formats: Sequence[str]) -> list[str]:
    unknown = [fmt for fmt in formats if fmt not in FORMATTERS]
    if unknown or not formats:
        raise InvalidOptionError(f"unknown format {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(FORMATTERS)}")
    return list(dict.fromkeys(formats))


def render(transcript: Transcript, formats: Sequence[str]) -> dict[str, str]:
    return {fmt: FORMATTERS[fmt](transcript) for fmt in formats}


def write_results(out: Path, item: BatchItem, texts: dict[str, str]) -> None:
    """Each result through a rename of its own: an input is done when all its files exist, so a run
    killed between two of them does that input again."""
    for fmt, target in zip(texts, targets(out, item, list(texts)), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, texts[fmt])


def _umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(current)
    return current


def write_atomically(target: Path, text: str) -> None:
    """Through a temporary file and one rename; the file gets the mode a plain open() would (the umask
    applies), not mkstemp's owner-only 0600, so a web server or another user can read the subtitles."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def download(url: str, folder: Path) -> Path:
    """The URL's body in a new file in ``folder`` (the caller removes it)."""
    import httpx  # only when there is a URL to fetch: the command's --help stays light

    handle, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=Path(urlsplit(url).path).suffix[:10])
    try:
        with os.fdopen(handle, "wb") as out, httpx.stream("GET", url, follow_redirects=True,
                                                           timeout=DOWNLOAD_TIMEOUT) as answer:
            if answer.status_code >= 400:
                raise BatchInputError(f"the server answered {answer.status_code}")
            for block in answer.iter_bytes(HASH_BLOCK):
                out.write(block)
    except httpx.HTTPError as exc:
        Path(name).unlink(missing_ok=True)
        raise BatchInputError(f"could not download it ({type(exc).__name__})") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def run_local(transcriber: Transcriber, items: Sequence[BatchItem], request: BatchRequest, scratch: Path,
              cancel: threading.Event | None = None) -> Iterator[Outcome]:
    """Each input transcribed in this process, in turn (URLs downloaded into ``scratch`` first)."""
    options = request.options()
    for item in items:
        try:
            path = download(item.source, scratch) if item.is_url else Path(item.source)
            try:
                transcript = transcriber.transcribe(path, options, cancel=cancel)
            finally:
                if item.is_url:
                    path.unlink(missing_ok=True)
            yield Outcome(item, render(transcript, request.formats), transcript.duration)
        except TranscriptionCancelled:
            raise
        except WhisperApiError as exc:
            yield Outcome(item, error=str(exc))
