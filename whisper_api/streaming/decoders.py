"""Live audio bytes in, 16 kHz float32 (frames, channels) out, piece by piece.

Headerless PCM (linear16, linear32, mu-law, A-law) is decoded here in numpy with no
subprocess. Everything else (Ogg/Opus, FLAC, AMR, and containers sniffed from their bytes:
WebM from browsers, Ogg, WAV, MP3...) goes through one ffmpeg process per stream, reading a
pipe and writing a float WAV, whose header tells the channel count.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import tempfile
import threading
from typing import Protocol

import numpy as np

from whisper_api.audio import SAFE_DEMUXERS, SAMPLE_RATE, FloatArray, find_ffmpeg
from whisper_api.errors import AudioDecodeError, InvalidOptionError
from whisper_api.streaming.events import PCM_ENCODINGS
from whisper_api.streaming.resample import Resampler

FFMPEG_ENCODINGS = {"flac": "flac", "opus": "ogg", "ogg-opus": "ogg", "amr-nb": "amr", "amr-wb": "amr"}
"""Deepgram's encoding name -> ffmpeg demuxer. Deepgram's opus means Ogg-encapsulated Opus."""
MAGIC = {"flac": b"fLaC", "opus": b"OggS", "ogg-opus": b"OggS"}
AMR_HEADERS = {"amr-nb": b"#!AMR\n", "amr-wb": b"#!AMR-WB\n"}
UNDECODABLE = "the data cannot be decoded as audio"
GIVE_UP_BYTES = 1 << 20
"""Bytes of input that yield no audio at all before the stream counts as undecodable."""


class StreamDecoder(Protocol):
    blocking: bool
    """Whether feed may wait on a subprocess (async callers then run it on a thread)."""

    def feed(self, data: bytes) -> FloatArray:
        """Decode more input; returns the samples that are ready (possibly none)."""

    def finish(self) -> FloatArray:
        """End of input: the remaining samples. Raises AudioDecodeError if the stream was not audio."""

    def close(self) -> None:
        """Free resources at once (after finish, or to abandon the stream)."""


def _g711_table(alaw: bool) -> FloatArray:
    codes = np.arange(256)
    if alaw:
        folded = codes ^ 0x55
        exponent, mantissa = (folded >> 4) & 7, folded & 0x0F
        shift = np.maximum(exponent - 1, 0)
        magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << shift)
        values = np.where(folded & 0x80, magnitude, -magnitude)
    else:
        folded = ~codes & 0xFF
        exponent, mantissa = (folded >> 4) & 7, folded & 0x0F
        magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        values = np.where(folded & 0x80, -magnitude, magnitude)
    return (values / 32768).astype(np.float32)


_SAMPLE_WIDTH = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}


class PcmDecoder:
    """Headerless interleaved samples; a frame split across two messages is kept until complete."""

    blocking = False

    def __init__(self, encoding: str, sample_rate: int, channels: int, mono: bool) -> None:
        self.encoding = encoding
        self.channels = channels
        self.mono = mono
        self.frame_bytes = _SAMPLE_WIDTH[encoding] * channels
        self.table = _g711_table(encoding == "alaw") if encoding in ("mulaw", "alaw") else None
        self.resample = Resampler(sample_rate, 1 if mono else channels)
        self.carry = b""

    def feed(self, data: bytes, last: bool = False) -> FloatArray:
        data = self.carry + data
        usable = len(data) - len(data) % self.frame_bytes
        self.carry = data[usable:]
        return self.resample(self._shape(self._samples(data[:usable])), last)

    def _samples(self, data: bytes) -> FloatArray:
        if self.encoding == "linear16":
            return (np.frombuffer(data, "<i2") / 32768).astype(np.float32)
        if self.encoding == "linear32":
            return (np.frombuffer(data, "<i4") / 2147483648).astype(np.float32)
        assert self.table is not None
        return self.table[np.frombuffer(data, np.uint8)]

    def _shape(self, samples: FloatArray) -> FloatArray:
        frames = samples.reshape(-1, self.channels)
        return frames.mean(axis=1, dtype=np.float32, keepdims=True) if self.mono and self.channels > 1 else frames

    def finish(self) -> FloatArray:
        return self.feed(b"", last=True)

    def close(self) -> None:
        pass


class FfmpegDecoder:
    """One ffmpeg process: input on stdin, float WAV on stdout, read by a thread as it comes."""

    blocking = True

    def __init__(self, demuxer: str | None, mono: bool, magic: bytes = b"", header: bytes = b"") -> None:
        self.magic = magic
        """What the stream must start with (for declared encodings): garbage fails at once."""
        self.header = header
        """Bytes ffmpeg needs first that clients may leave out (AMR's storage header)."""
        self.head = b""
        """The first bytes, held until there are enough to check the magic."""
        self.started = False
        self.bytes_in = 0
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - ffmpeg writes it for the stream's lifetime
        command = [
            find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-probesize", "32768", "-analyzeduration", "0",
            *(["-f", demuxer] if demuxer else []), "-protocol_whitelist", "pipe", "-format_whitelist", SAFE_DEMUXERS,
            "-i", "pipe:0",
            "-vn", "-map", "0:a:0", *(["-ac", "1"] if mono else []), "-ar", str(SAMPLE_RATE),
            "-c:a", "pcm_f32le", "-f", "wav", "-flush_packets", "1", "pipe:1",
        ]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self.stderr, bufsize=0)
        except OSError as exc:
            self.stderr.close()
            raise AudioDecodeError(f"cannot run ffmpeg: {exc}") from exc
        self.output = _WavReader()
        self.reader = threading.Thread(target=self._read, name="ffmpeg-stream-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.read(1 << 16):
            self.output.add(chunk)

    def feed(self, data: bytes) -> FloatArray:
        if not self.started:
            data = self._first(data)
        if self.started and data:
            self._write(data)
        if self.bytes_in > GIVE_UP_BYTES and self.output.frames_total == 0:
            raise AudioDecodeError(UNDECODABLE)
        return self.output.take()

    def _first(self, data: bytes) -> bytes:
        data, self.head = self.head + data, b""
        if len(data) < max(len(self.magic), len(self.header)):
            self.head = data
            return b""
        self.started = True
        if self.magic and not data.startswith(self.magic):
            raise AudioDecodeError(UNDECODABLE)
        return data if not self.header or data.startswith(self.header) else self.header + data

    def _write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
        except (BrokenPipeError, ValueError):  # ffmpeg gave up on the input
            raise AudioDecodeError(f"{UNDECODABLE}{self._reason()}") from None
        self.bytes_in += len(data)

    def finish(self) -> FloatArray:
        assert self.process.stdin is not None
        if self.head:  # a stream shorter than the magic: let ffmpeg judge it
            self.started = True
            self._write(self.head)
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.reader.join()
        status = self.process.wait()
        if self.bytes_in and self.output.frames_total == 0 and status != 0:
            raise AudioDecodeError(f"{UNDECODABLE}{self._reason()}")
        return self.output.take()

    def _reason(self) -> str:
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read(1 << 16).decode(errors="replace").splitlines() if line.strip()]
        return f" ({lines[-1].strip()})" if lines else ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.close()


class _WavReader:
    """Parses ffmpeg's streamed float WAV: the header once, then whole frames as they arrive."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buffer = b""
        self.channels = 0
        self.in_data = False
        self.ready: list[FloatArray] = []
        self.frames_total = 0

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.buffer += chunk
            if not self.in_data:
                self._header()
            if self.in_data:
                frame_bytes = 4 * self.channels
                usable = len(self.buffer) - len(self.buffer) % frame_bytes
                if usable:
                    frames = np.frombuffer(self.buffer[:usable], "<f4").reshape(-1, self.channels)
                    self.ready.append(frames)
                    self.frames_total += frames.shape[0]
                    self.buffer = self.buffer[usable:]

    def _header(self) -> None:
        position = 12  # after RIFF, size, WAVE
        while position + 8 <= len(self.buffer):
            chunk_id = self.buffer[position:position + 4]
            size = struct.unpack("<I", self.buffer[position + 4:position + 8])[0]
            if chunk_id == b"data":
                self.channels = self.channels or 1
                self.buffer, self.in_data = self.buffer[position + 8:], True
                return
            end = position + 8 + size + size % 2
            if end > len(self.buffer):
                return
            if chunk_id == b"fmt ":
                self.channels = struct.unpack("<H", self.buffer[position + 10:position + 12])[0]
            position = end

    def take(self) -> FloatArray:
        with self.lock:
            ready, self.ready = self.ready, []
            channels = max(self.channels, 1)
        return np.concatenate(ready).astype(np.float32) if ready else np.zeros((0, channels), np.float32)


def open_decoder(encoding: str | None, sample_rate: int | None, channels: int, mono: bool) -> StreamDecoder:
    """The decoder for Deepgram's ``encoding`` (None: a container, sniffed by ffmpeg)."""
    if encoding in PCM_ENCODINGS:
        if sample_rate is None:
            raise InvalidOptionError(f"encoding={encoding} needs a sample_rate")
        return PcmDecoder(encoding, sample_rate, channels, mono)
    if encoding is None:
        return FfmpegDecoder(None, mono)
    if encoding in FFMPEG_ENCODINGS:
        return FfmpegDecoder(FFMPEG_ENCODINGS[encoding], mono, MAGIC.get(encoding, b""), AMR_HEADERS.get(encoding, b""))
    raise InvalidOptionError(f"unsupported encoding '{encoding}'")
