"""Decode anything ffmpeg understands to 16 kHz float32, mono or one array per channel.

ffmpeg writes a float WAV into a private temporary folder; the file is unlinked at once and read
a span at a time (``DecodedAudio.track``), so transcribing a long recording never holds
it whole in memory. Callers that want every sample at once read ``samples``: one copy.
Input streams (stdin, uploads) are spooled to disk first: containers such as MP4 keep
their index at the end and cannot be demuxed from a pipe.

Input may come from anyone (server uploads), so ffmpeg reads it with a whitelist of
self-contained demuxers: playlists and manifests (DASH, HLS, concat...) name other files and
would make ffmpeg read them. A probe reads the header first, so audio that declares an absurd
sample rate or a length over the limit is refused before anything is decoded.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import weakref
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from whisper_api.errors import AudioDecodeError, AudioTooLongError, TranscriptionCancelled
from whisper_api.sample_rate import SAMPLE_RATE as SAMPLE_RATE  # noqa: PLC0414 - re-exported: its home for callers

FloatArray = npt.NDArray[np.float32]
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 2000, 384000
"""Declared input rates outside this range are refused: below it, a few bytes claim hours of audio."""
SAFE_DEMUXERS = ",".join((
    # PCM, lossless and headerless formats
    "wav", "w64", "aiff", "caf", "au", "voc", "flac", "wv", "ape", "tta", "shn", "dsf",
    "s16le", "s32le", "f32le", "mulaw", "alaw",
    # compressed audio
    "mp3", "aac", "loas", "ac3", "eac3", "dts", "truehd", "mlp", "amr", "amrnb", "amrwb", "ogg", "mpc", "mpc8",
    "gsm", "xwma",
    # containers (mov: mp4, m4a, 3gp; matroska: webm; asf: wma, wmv); none of them opens other files
    "mov", "matroska", "asf", "avi", "flv", "mpegts", "mpeg", "nut",
))
"""The demuxers ffmpeg may use: every one reads only the bytes it is given."""


class SampleFile:
    """Samples in an open file (ffmpeg's float32 output, whose name is gone, or a WAV read as it is).
    It has a ``shape`` and slices like a (frames, channels) float32 array, reading only the span asked
    for, and is freed with the last reference to it."""

    def __init__(self, path: Path, offset: int, channels: int, sample_type: str = "<f4",
                 frames: int | None = None) -> None:
        self._handle = path.open("rb")
        self._close = weakref.finalize(self, self._handle.close)
        self._lock = threading.Lock()
        self._offset = offset
        self._type = np.dtype(sample_type)
        available = (os.fstat(self._handle.fileno()).st_size - offset) // (self._type.itemsize * channels)
        self.shape = (available if frames is None else min(frames, available), channels)

    def __getitem__(self, span: slice) -> FloatArray:
        start, stop, step = span.indices(self.shape[0])
        if step != 1:
            raise ValueError("decoded audio reads contiguous spans only")
        channels = self.shape[1]
        with self._lock:  # one file position for every thread
            self._handle.seek(self._offset + start * self._type.itemsize * channels)
            samples = np.fromfile(self._handle, self._type, count=max(0, stop - start) * channels)
        if self._type.kind == "i":  # 16-bit PCM, scaled as ffmpeg scales it: exactly x / 32768
            samples = samples.astype(np.float32) / np.float32(32768)
        return samples.reshape(-1, channels)

    def read_all_and_close(self) -> FloatArray:
        samples = self[:]
        self._close()
        return samples


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded audio at 16 kHz, float32 in -1..1, shape (frames, channels): in memory, or in a file read
    a span at a time (``decode_file``), so a long recording is held whole only when ``samples`` is read."""

    store: FloatArray | SampleFile
    source: str
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_array(cls, samples: npt.ArrayLike, source: str = "<array>") -> DecodedAudio:
        """Wrap 16 kHz samples: 1-D for mono, or (frames, channels)."""
        array = np.asarray(samples, dtype=np.float32)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            raise AudioDecodeError(f"{source}: expected 1-D or (frames, channels) samples, got {array.shape}")
        return cls(array, source)

    @cached_property
    def samples(self) -> FloatArray:
        """Every sample at once."""
        return self.store[:]

    @property
    def channels(self) -> int:
        return int(self.store.shape[1])

    @property
    def frames(self) -> int:
        return int(self.store.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / SAMPLE_RATE

    def track(self, channel: int | None = None) -> Track:
        """One channel, or with None the mix of all, read a span at a time."""
        return Track(self, channel)

    def channel(self, index: int) -> FloatArray:
        """One channel of ``samples`` as a contiguous array (the engines read raw memory)."""
        return _pick(self.samples, index)

    def mono(self) -> FloatArray:
        return _pick(self.samples, None)


class Samples(Protocol):
    """Mono samples that slice like a 1-D array: an array, or a ``Track``."""

    def __len__(self) -> int: ...

    def __getitem__(self, span: slice, /) -> FloatArray: ...


@dataclass(frozen=True)
class Track:
    """One channel of a recording (or the mix of all) that slices like a 1-D array: ``track[a:b]`` reads
    only those samples, contiguous, for the engines and the VAD."""

    audio: DecodedAudio
    channel: int | None

    def __len__(self) -> int:
        return self.audio.frames

    def __getitem__(self, span: slice) -> FloatArray:
        return _pick(self.audio.store[span], self.channel)  # a view of mono audio held in memory


def _pick(frames: FloatArray, channel: int | None) -> FloatArray:
    """One channel of (frames, channels), or with None their mix; contiguous, and a view (no copy) of
    mono audio held in memory."""
    if channel is None and frames.shape[1] > 1:
        return np.ascontiguousarray(frames.mean(axis=1, dtype=np.float32))
    return np.ascontiguousarray(frames[:, channel or 0])


@dataclass(frozen=True)
class RawFormat:
    """Headerless audio: the ffmpeg sample format (s16le, s32le, f32le, mulaw, alaw), rate and channels."""

    sample_format: str
    sample_rate: int
    channels: int = 1

    def input_options(self) -> list[str]:
        return ["-f", self.sample_format, "-ar", str(self.sample_rate), "-ac", str(self.channels)]


@cache
def find_ffmpeg() -> str:
    """The system ffmpeg when there is one, else the binary bundled in the imageio-ffmpeg wheel."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise AudioDecodeError("ffmpeg not found: install it (apt install ffmpeg) or imageio-ffmpeg") from exc


@dataclass(frozen=True)
class Probe:
    """What an input's header declares: its container, length (None if unknown) and first audio stream's rate."""

    container: str
    duration: float | None
    sample_rate: int


def require_audio_file(path: Path, name: str | None = None) -> None:
    """An AudioDecodeError unless ``path`` is a file with something in it; ``name`` is how the error
    refers to it (default: the path)."""
    name = name or str(path)
    if path.is_dir():
        raise AudioDecodeError(f"{name}: is a folder, not an audio file")
    if not path.is_file():
        raise AudioDecodeError(f"{name}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{name}: file is empty")


def decode_file(
    path: Path, *, mono: bool = True, name: str | None = None, raw: RawFormat | None = None,
    max_seconds: float | None = None, cancel: threading.Event | None = None,
) -> DecodedAudio:
    """Decode a local file; ``name`` is how errors refer to it (default: the path); ``raw`` for headerless
    audio. With ``max_seconds``, longer audio is an error, found without decoding more than that.
    Setting ``cancel`` stops the decoding (TranscriptionCancelled)."""
    name = name or str(path)
    require_audio_file(path, name)
    layout = None if raw else plain_wav(path, mono)
    if layout is not None:
        return _checked(DecodedAudio(_held(layout.open(path)), name, layout.warnings(name)), max_seconds, "")
    _check_probe(probe(path, name, raw), name, max_seconds)
    with tempfile.TemporaryDirectory(prefix="whisper-api-") as workdir:
        wav = Path(workdir) / "decoded.wav"
        limit = None if max_seconds is None else max_seconds + 1.0
        stderr = _run_ffmpeg(path, wav, mono, name, raw, limit, cancel)
        opened = _open_float_wav(wav, name)
        warnings = (f"{name}: decoded with errors, the audio may be truncated{_reason(stderr)}",) if stderr else ()
        audio = DecodedAudio(_held(opened), name, warnings)
    return _checked(audio, max_seconds, stderr)


def _held(opened: SampleFile) -> SampleFile | FloatArray:
    """The file, read a span at a time; on Windows, which cannot remove a folder while a file in it is
    open (a spooled upload's, ffmpeg's output), the samples read whole."""
    return opened if os.name == "posix" else opened.read_all_and_close()


def _checked(audio: DecodedAudio, max_seconds: float | None, stderr: str) -> DecodedAudio:
    if max_seconds is not None and audio.frames > max_seconds * SAMPLE_RATE:
        raise AudioTooLongError(f"{audio.source}: audio is longer than {max_seconds:g} seconds")
    if audio.frames == 0:
        raise AudioDecodeError(f"{audio.source}: no audio could be decoded{_reason(stderr)}")
    return audio


_DIRECT_SAMPLES = {(1, 16): "<i2", (3, 32): "<f4"}
"""WAV format tags and sample sizes read without ffmpeg: 16-bit PCM and 32-bit float."""
_MAX_CHUNKS_BEFORE_DATA = 64
"""A header with more chunks than this before its samples is left to ffmpeg: a crafted file of
millions of empty chunks would otherwise be a long loop here."""
_MAX_DIRECT_CHANNELS = 8
"""More channels than a call or a meeting recorder writes go to ffmpeg, which refuses over 512."""
_EXTENSIBLE = 0xFFFE
"""WAVE_FORMAT_EXTENSIBLE: the real format tag is the first two bytes of the subformat."""


@dataclass(frozen=True)
class WavLayout:
    """Where a WAV's samples lie, for one that needs no decoding."""

    offset: int
    channels: int
    sample_type: str
    frames: int
    """As many as the header declares."""
    complete: bool
    """Whether the file holds all of them."""

    def open(self, path: Path) -> SampleFile:
        return SampleFile(path, self.offset, self.channels, self.sample_type, self.frames)

    def warnings(self, name: str) -> tuple[str, ...]:
        if self.complete:
            return ()
        return (f"{name}: decoded with errors, the audio may be truncated "
                "(the file ends before the data its header declares)",)


def plain_wav(path: Path, mono: bool) -> WavLayout | None:
    """The layout of a WAV that needs no decoding (16 kHz, 16-bit PCM or 32-bit float, one channel, or
    several kept apart): read as it is, it saves starting ffmpeg twice, most of a short request's
    decoding time. None for anything else, which ffmpeg decodes."""
    with path.open("rb") as handle:
        header = _wav_header(handle)
    if header is None or header.container != b"RIFF":
        return None
    return _layout(header, path.stat().st_size, mono)


def _layout(header: _WavHeader, file_size: int, mono: bool) -> WavLayout | None:
    offset, size, fmt = header.data_offset, header.data_size, header.fmt
    if offset is None or len(fmt) < 16 or size in (0, 0xFFFFFFFF):  # no size: a streaming writer's, for ffmpeg
        return None
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    sample_type = _DIRECT_SAMPLES.get((tag, bits))
    if (sample_type is None or rate != SAMPLE_RATE or not 1 <= channels <= _MAX_DIRECT_CHANNELS
            or (mono and channels > 1) or block != channels * bits // 8):
        return None
    return WavLayout(offset, channels, sample_type, size // block, complete=offset + size <= file_size)


@dataclass(frozen=True)
class _WavHeader:
    container: bytes
    """RIFF, or RF64 (ffmpeg's output over 4 GB)."""
    fmt: bytes
    """The first format chunk; empty when there is none (or it is implausibly long)."""
    data_offset: int | None
    """Where the samples start; None when no data chunk was found."""
    data_size: int
    """As the data chunk declares it (RF64 keeps the real one elsewhere)."""


def _wav_header(handle: BinaryIO) -> _WavHeader | None:
    """A RIFF or RF64 WAVE's header, read from the start of ``handle``; None for anything else.
    Metadata chunks are skipped, not read; past a format chunk over 64 bytes (16 to 40 in any real
    WAV) or more than _MAX_CHUNKS_BEFORE_DATA chunks, nothing is trusted."""
    start = handle.read(12)
    if start[:4] not in (b"RIFF", b"RF64") or start[8:12] != b"WAVE":
        return None
    fmt = b""
    for _ in range(_MAX_CHUNKS_BEFORE_DATA):
        chunk = handle.read(8)
        if len(chunk) < 8:
            break
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if chunk_id == b"data":
            return _WavHeader(start[:4], fmt, handle.tell(), size)
        if chunk_id == b"fmt " and not fmt and size <= 64:  # the first one counts, as for ffmpeg
            fmt = handle.read(size + size % 2)
        else:
            handle.seek(size + size % 2, os.SEEK_CUR)
    return _WavHeader(start[:4], b"", None, 0)


def decode_stream(stream: BinaryIO, *, mono: bool = True, name: str = "<stdin>") -> DecodedAudio:
    """Decode a byte stream (stdin, an upload) by spooling it to a private temporary file."""
    with tempfile.TemporaryDirectory(prefix="whisper-api-") as workdir:
        spooled = Path(workdir) / "input"
        with spooled.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        return decode_file(spooled, mono=mono, name=name)


def _input_options(source: Path, raw: RawFormat | None) -> list[str]:
    # "file:" stops names like "http://x" or "concat:a|b" being read as protocols; the protocol
    # whitelist keeps ffmpeg off the network and the format whitelist off playlists and manifests.
    return [find_ffmpeg(), "-nostdin", "-hide_banner", *(raw.input_options() if raw else []),
            "-protocol_whitelist", "file", "-format_whitelist", SAFE_DEMUXERS, "-i", f"file:{source.resolve()}"]


_INPUT = re.compile(r"^Input #0, (\S+?), from ", re.MULTILINE)
_DURATION = re.compile(r"^\s+Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
_REFUSED = re.compile(r"^\[(\w+) @ \w+\] Format not on whitelist", re.MULTILINE)
_AUDIO_RATE = re.compile(r"^\s+Stream #0:\d+.*?: Audio: .*?(\d+) Hz", re.MULTILINE)


def probe(path: Path, name: str, raw: RawFormat | None = None) -> Probe:
    """Read the input's header (ffmpeg with no output lists it and stops): container, length, rate."""
    try:
        result = subprocess.run([*_input_options(path, raw)], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AudioDecodeError(f"{name}: cannot run ffmpeg: {exc}") from exc
    report = result.stderr.decode("utf-8", errors="replace")
    container = _INPUT.search(report)
    refused = _REFUSED.search(report)
    if refused is not None:
        raise AudioDecodeError(f"{name}: {refused.group(1)} input refers to other files and is not accepted; "
                               "send the audio itself")
    if container is None:
        raise AudioDecodeError(f"{name}: not a decodable audio or video file{_reason(report)}")
    rate = _AUDIO_RATE.search(report)
    if rate is None:
        raise AudioDecodeError(f"{name}: no audio stream in the file")
    duration = _DURATION.search(report)
    seconds = None if duration is None else sum(float(part) * scale for part, scale in
                                                   zip(duration.groups(), (3600, 60, 1), strict=True))
    return Probe(container.group(1), seconds, int(rate.group(1)))


def _check_probe(found: Probe, name: str, max_seconds: float | None) -> None:
    if not MIN_SAMPLE_RATE <= found.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(f"{name}: declares a sample rate of {found.sample_rate} Hz; "
                               f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz are accepted")
    if max_seconds is not None and found.duration is not None and found.duration > max_seconds + 1.0:
        raise AudioTooLongError(f"{name}: audio is longer than {max_seconds:g} seconds")


def _run_ffmpeg(source: Path, wav: Path, mono: bool, name: str, raw: RawFormat | None, limit: float | None,
                cancel: threading.Event | None) -> str:
    command = [
        *_input_options(source, raw), "-loglevel", "error",
        "-vn", "-map", "0:a:0", *(["-ac", "1"] if mono else []), "-ar", str(SAMPLE_RATE),
        *(["-t", f"{limit:g}"] if limit is not None else []),
        "-c:a", "pcm_f32le", "-f", "wav", "-rf64", "auto", "-y", str(wav),
    ]
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as exc:
            raise AudioDecodeError(f"{name}: cannot run ffmpeg: {exc}") from exc
        returncode = _wait(process, cancel)
        errors.seek(0)
        stderr = errors.read().decode("utf-8", errors="replace").strip()
    if returncode != 0:
        if "matches no streams" in stderr:
            raise AudioDecodeError(f"{name}: no audio stream in the file")
        raise AudioDecodeError(f"{name}: not a decodable audio or video file{_reason(stderr)}")
    return stderr


def _wait(process: subprocess.Popen[bytes], cancel: threading.Event | None) -> int:
    """ffmpeg's exit code, as soon as it exits; stopped within a tenth of a second once ``cancel`` is
    set. A watcher thread looks at ``cancel``: waiting with a timeout would poll the process, and
    Python's polling backs off to 50 ms, a delay every short request would pay."""
    if cancel is None:
        return process.wait()
    exited = threading.Event()

    def kill_when_cancelled() -> None:
        while not exited.wait(0.1):
            if cancel.is_set():
                process.kill()
                return

    threading.Thread(target=kill_when_cancelled, name="ffmpeg-cancel", daemon=True).start()
    try:
        returncode = process.wait()
    finally:
        exited.set()
    if cancel.is_set():
        raise TranscriptionCancelled("decoding cancelled")
    return returncode


def _reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1].split(": ", 1)[-1] if lines[-1].startswith("file:") else lines[-1]
    return f" ({last.strip()})"


def _open_float_wav(path: Path, name: str) -> SampleFile:
    """Open the float32 WAV/RF64 ffmpeg wrote: find the channel count and where the samples start (they
    run to the end of the file: RF64 keeps no usable size in the data chunk)."""
    with path.open("rb") as handle:
        header = _wav_header(handle)
    if header is None:
        raise AudioDecodeError(f"{name}: ffmpeg produced no WAV output")
    if header.data_offset is None:
        raise AudioDecodeError(f"{name}: ffmpeg output has no audio data")
    channels = struct.unpack("<H", header.fmt[2:4])[0] if len(header.fmt) >= 4 else 1
    return SampleFile(path, header.data_offset, max(channels, 1))


def write_float_wav(path: Path, samples: FloatArray) -> Path:
    """Write mono 16 kHz float32 samples as an IEEE-float WAV: readers get the exact same values."""
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)  # format 3: IEEE float
    with path.open("wb") as out:
        out.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        out.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        out.write(b"data" + struct.pack("<I", len(data)) + data)
    return path
