"""Conversations the tests make with espeak-ng: who speaks when is known exactly."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.audio_files import RATE, silence, write_wav

VOICES = ("en-us+m7", "en+f2", "en+m3", "es+f3")
"""Voices far enough apart for the speaker encoder: mean embeddings 0.33-0.70 alike between two
voices, windows of one voice 0.67-0.76 alike on average."""
LINES = (
    (0, "Good morning everyone, thank you for joining the weekly planning meeting today."),
    (1, "Thanks. I would like to start with the budget for the next quarter, if that is fine."),
    (0, "Of course. The numbers came in late on Friday, so I only had a quick look at them."),
    (1, "The main change is travel. We spent far less than planned because of the new video setup."),
    (0, "That is good news. Can we move some of that money to the hiring plan for the summer?"),
    (1, "I think so, but we should check with finance before we promise anything to the team."),
)
GAP = 0.8


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int


def _speak(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        raw, resampled = Path(folder) / "raw.wav", Path(folder) / "16k.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-ar", str(RATE),
                        "-ac", "1", "-f", "f32le", str(resampled)], check=True)
        return np.fromfile(resampled, np.float32)


def conversation_audio(lines: int = len(LINES), voices: int = 2) -> tuple[list[np.ndarray], list[Turn]] | None:
    """Per-speaker tracks (each silent while another talks) and the true turns of ``lines`` lines
    spoken in turn by ``voices`` voices; None without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        return None
    tracks: list[list[np.ndarray]] = [[silence(0.5)] for _ in range(voices)]
    turns, cursor = [], 0.5
    for line in range(lines):
        speaker, text = line % voices, LINES[line % len(LINES)][1]
        speech = _speak(text, VOICES[speaker])
        for number, track in enumerate(tracks):
            track.extend([speech if number == speaker else silence(len(speech) / RATE), silence(GAP)])
        turns.append(Turn(cursor, cursor + len(speech) / RATE, speaker))
        cursor += len(speech) / RATE + GAP
    return [np.concatenate(track) for track in tracks], turns


def write_conversation(folder: Path, stereo: bool = False, lines: int = len(LINES)) -> tuple[Path, list[Turn]] | None:
    """The conversation as a WAV: mono (both voices mixed) or one speaker per channel."""
    made = conversation_audio(lines)
    if made is None:
        return None
    tracks, turns = made
    channels = tracks if stereo else [tracks[0] + tracks[1]]
    return write_wav(folder / ("call-stereo.wav" if stereo else "conversation.wav"), channels), turns


def agreement(turns: list[Turn], found: list[tuple[float, float, int]]) -> float:
    """Share of the true speech time labelled with the right speaker, under the best mapping of
    found speaker numbers to true ones (each found number to the true speaker it overlaps most)."""
    overlap: dict[tuple[int, int], float] = {}
    for turn in turns:
        for start, end, speaker in found:
            shared = min(turn.end, end) - max(turn.start, start)
            if shared > 0:
                overlap[speaker, turn.speaker] = overlap.get((speaker, turn.speaker), 0.0) + shared
    best: dict[int, tuple[int, float]] = {}
    for (found_speaker, true_speaker), seconds in overlap.items():
        if seconds > best.get(found_speaker, (0, 0.0))[1]:
            best[found_speaker] = (true_speaker, seconds)
    right = sum(seconds for _, seconds in best.values())
    return right / sum(turn.end - turn.start for turn in turns)
