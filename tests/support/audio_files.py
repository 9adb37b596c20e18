"""Audio the tests make: tones, noise, silence, written as WAV and converted with ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

RATE = 16000


def tone(seconds: float, frequency: float = 440.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def write_wav(path: Path, channels: list[np.ndarray], rate: int = RATE) -> Path:
    """Write 16-bit PCM with one array per channel."""
    frames = np.stack(channels, axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def convert(source: Path, target: Path, *extra: str) -> Path:
    """Convert with ffmpeg (the container follows the target's extension)."""
    ffmpeg("-i", str(source), *extra, str(target))
    return target


def long_silence(path: Path, seconds: float = 3600.0) -> Path:
    """Digital silence as FLAC: an hour in 0.7 MB, a job that holds a worker for minutes on any machine."""
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", f"{seconds:g}", "-c:a", "flac", str(path))
    return path


def espeak(text: str, target: Path, voice: str = "en") -> Path | None:
    """Speech from espeak-ng when it is installed, else None."""
    if shutil.which("espeak-ng") is None:
        return None
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(target), text], check=True)
    return target


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


def speechlike(seconds_per_part: float = 2.0, seed: int = 0) -> np.ndarray:
    """Tones and noise bursts separated by silences: audio with clear on/off structure."""
    parts = [tone(seconds_per_part, 220), silence(1.0), noise(seconds_per_part, seed), silence(1.0),
             tone(seconds_per_part, 660), noise(seconds_per_part, seed + 1)]
    return np.concatenate(parts)
