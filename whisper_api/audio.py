"""Decode anything ffmpeg understands to 16 kHz float32, mono or one array per channel.

ffmpeg writes a float WAV into a private temporary folder and numpy reads it back in one
piece, so memory holds one copy of the decoded audio, however long the recording.
Input streams (stdin, uploads) are spooled to disk first: containers such as MP4 keep
their index at the end and cannot be demuxed from a pipe.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from whisper_api.errors import AudioDecodeError, AudioTooLongError

SAMPLE_RATE = 16000
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded samples, shape (frames, channels), float32 in -1..1 at 16 kHz."""

    samples: FloatArray
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

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / SAMPLE_RATE

    def channel(self, index: int) -> FloatArray:
        """One channel as a contiguous array (the engines read raw memory)."""
        return np.ascontiguousarray(self.samples[:, index])

    def mono(self) -> FloatArray:
        if self.channels == 1:
            return self.channel(0)
        return np.ascontiguousarray(self.samples.mean(axis=1, dtype=np.float32))


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


def decode_file(
    path: Path, *, mono: bool = True, name: str | None = None, raw: RawFormat | None = None,
    max_seconds: float | None = None,
) -> DecodedAudio:
    """Decode a local file; ``name`` is how errors refer to it (default: the path); ``raw`` for headerless
    audio. With ``max_seconds``, longer audio is an error, found without decoding more than that."""
    name = name or str(path)
    if not path.is_file():
        raise AudioDecodeError(f"{name}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{name}: file is empty")
    with tempfile.TemporaryDirectory(prefix="whisper-api-") as workdir:
        wav = Path(workdir) / "decoded.wav"
        limit = None if max_seconds is None else max_seconds + 1.0
        stderr = _run_ffmpeg(path, wav, mono, name, raw, limit)
        samples = _read_float_wav(wav, name)
    if max_seconds is not None and samples.shape[0] > max_seconds * SAMPLE_RATE:
        raise AudioTooLongError(f"{name}: audio is longer than {max_seconds:g} seconds")
    if samples.shape[0] == 0:
        raise AudioDecodeError(f"{name}: no audio could be decoded{_reason(stderr)}")
    warnings = (f"{name}: decoded with errors, the audio may be truncated{_reason(stderr)}",) if stderr else ()
    return DecodedAudio(samples, name, warnings)


def decode_stream(stream: BinaryIO, *, mono: bool = True, name: str = "<stdin>") -> DecodedAudio:
    """Decode a byte stream (stdin, an upload) by spooling it to a private temporary file."""
    with tempfile.TemporaryDirectory(prefix="whisper-api-") as workdir:
        spooled = Path(workdir) / "input"
        with spooled.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        return decode_file(spooled, mono=mono, name=name)


def _run_ffmpeg(source: Path, wav: Path, mono: bool, name: str, raw: RawFormat | None, limit: float | None) -> str:
    command = [
        find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", *(raw.input_options() if raw else []),
        # "file:" stops names like "http://x" or "concat:a|b" being read as protocols, and the
        # whitelist stops playlists inside the input from reaching the network.
        "-protocol_whitelist", "file", "-i", f"file:{source.resolve()}",
        "-vn", "-map", "0:a:0", *(["-ac", "1"] if mono else []), "-ar", str(SAMPLE_RATE),
        *(["-t", f"{limit:g}"] if limit is not None else []),
        "-c:a", "pcm_f32le", "-f", "wav", "-rf64", "auto", "-y", str(wav),
    ]
    try:
        result = subprocess.run(command, capture_output=True, check=False)
    except OSError as exc:
        raise AudioDecodeError(f"{name}: cannot run ffmpeg: {exc}") from exc
    stderr = result.stderr.decode("utf-8", errors="replace").strip()
    if result.returncode != 0:
        if "matches no streams" in stderr:
            raise AudioDecodeError(f"{name}: no audio stream in the file")
        raise AudioDecodeError(f"{name}: not a decodable audio or video file{_reason(stderr)}")
    return stderr


def _reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1].split(": ", 1)[-1] if lines[-1].startswith("file:") else lines[-1]
    return f" ({last.strip()})"


def _read_float_wav(path: Path, name: str) -> FloatArray:
    """Read the float32 WAV/RF64 ffmpeg wrote: find the channel count and the data chunk."""
    with path.open("rb") as handle:
        header = handle.read(12)
        if header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
            raise AudioDecodeError(f"{name}: ffmpeg produced no WAV output")
        channels = 0
        while chunk := handle.read(8):
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                data = np.fromfile(handle, dtype="<f4")  # to the end: RF64 stores no usable size here
                return data[: data.size - data.size % max(channels, 1)].reshape(-1, max(channels, 1))
            body = handle.read(size + size % 2)
            if chunk_id == b"fmt ":
                channels = struct.unpack("<H", body[2:4])[0]
    raise AudioDecodeError(f"{name}: ffmpeg output has no audio data")


def write_float_wav(path: Path, samples: FloatArray) -> Path:
    """Write mono 16 kHz float32 samples as an IEEE-float WAV: readers get the exact same values."""
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)  # format 3: IEEE float
    with path.open("wb") as out:
        out.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        out.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        out.write(b"data" + struct.pack("<I", len(data)) + data)
    return path
