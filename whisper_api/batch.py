"""Bulk transcription of an archive: which inputs there are, where each one's results go, which
are done already, and writing results so that a killed run leaves no half-written file.

The inputs (files, folders searched for audio and video, glob patterns, URLs) are named by how
they were given (``expand``), so ``batch submit archive/`` writes ``OUT/a/talk.json`` for
``archive/a/talk.wav``. An input whose every requested result exists is done: a rerun skips it,
so a run stopped half-way resumes where it stopped. Who transcribes (this process, or the task
queue's workers) is the caller's business.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
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
DOWNLOAD_BLOCK = 1 << 20


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


def expand(arguments: Iterable[str], keep_extension: bool = False) -> list[BatchItem]:
    """Files, the media files under folders, glob matches and URLs, each once, in the order given,
    each named by how it was given: a folder's files by their path inside it, a pattern's matches by
    their path below the pattern's fixed part, a file or URL by its own name. Names never depend on
    the other inputs, so a rerun names everything as before; two inputs that would share a name are
    refused before any work."""
    found: dict[str, str] = {}
    for given in arguments:
        argument = given.strip()
        if not argument or argument.startswith("#"):
            continue
        if is_url(argument):
            found.setdefault(argument, _name(Path(unquote(urlsplit(argument).path)).name or "download", keep_extension))
        elif Path(argument).is_dir():
            for path in sorted(Path(argument).rglob("*")):
                if path.suffix.lower() in MEDIA_SUFFIXES and path.is_file():
                    found.setdefault(str(path), _name(str(path.relative_to(argument)), keep_extension))
        elif Path(argument).exists():
            found.setdefault(argument, _name(Path(argument).name, keep_extension))
        elif glob.has_magic(argument):
            found.update({match: _name(os.path.relpath(match, _fixed_part(argument)), keep_extension)
                          for match in _matches(argument) if match not in found})
        else:
            raise InvalidOptionError(f"{argument}: no such file or folder")
    _refuse_shared_names(found)
    return [BatchItem(source, name) for source, name in found.items()]


def _name(relative: str, keep_extension: bool) -> str:
    return relative if keep_extension else str(Path(relative).with_suffix(""))


def _fixed_part(pattern: str) -> str:
    """The folders a glob pattern names before its first wildcard."""
    parts = Path(pattern).parts
    fixed = next((index for index, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return str(Path(*parts[:fixed])) if fixed else "."


def _matches(pattern: str) -> list[str]:
    matches = sorted(path for path in glob.glob(pattern, recursive=True) if Path(path).is_file())  # noqa: PTH207 (absolute patterns too)
    if not matches:
        raise InvalidOptionError(f"{pattern}: no file matches")
    return matches


def _refuse_shared_names(names: dict[str, str]) -> None:
    first: dict[str, str] = {}
    for source, name in names.items():
        earlier = first.setdefault(name, source)
        if earlier != source:
            raise InvalidOptionError(f"{earlier} and {source} would both write {name}.*: give their folder "
                                     "instead, or --keep-extension, or send them to different --out folders")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
            for block in answer.iter_bytes(DOWNLOAD_BLOCK):
                out.write(block)
    except httpx.HTTPError as exc:
        Path(name).unlink(missing_ok=True)
        raise BatchInputError(f"could not download it ({type(exc).__name__})") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def run_local(transcriber: Transcriber, items: Sequence[BatchItem], request: BatchRequest, scratch: Path,
              progress: Callable[[BatchItem, float], None], cancel: threading.Event | None = None
              ) -> Iterator[Outcome]:
    """Each input transcribed in this process, in turn (URLs downloaded into ``scratch`` first);
    ``progress`` hears how far into each it is. (The engine's progress calls also let the main
    thread take Ctrl-C while it decodes.)"""
    options = request.options()
    for item in items:
        try:
            path = download(item.source, scratch) if item.is_url else Path(item.source)
            try:
                transcript = transcriber.transcribe(path, options, progress=functools.partial(progress, item),
                                                    cancel=cancel)
            finally:
                if item.is_url:
                    path.unlink(missing_ok=True)
            yield Outcome(item, render(transcript, request.formats), transcript.duration)
        except TranscriptionCancelled:
            raise
        except WhisperApiError as exc:
            yield Outcome(item, error=str(exc))
