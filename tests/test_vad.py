"""Silero on real meetings: what it heard earlier must not hide speech from the batch gate or a stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whisper_api.audio import SAMPLE_RATE, decode_file
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.detector import open_vad, probabilities_with, speech_probabilities
from whisper_api.vad.regions import GATE_RULES, Region, speech_regions
from whisper_api.vad.silero import SileroVad


def covered(regions: list[Region], start: float, end: float) -> float:
    return sum(max(0.0, min(end, region.end) - max(start, region.start)) for region in regions)


def test_speech_after_another_clip_is_not_cut(shared: Path) -> None:
    """Two 30 s AMI clips of one meeting back to back (the reference has trn08 speaking from 5.0 to
    8.6 s): Silero, still under the first clip's spell, hears nothing there; the second listener,
    fresh where the first fell quiet, keeps those words from the gate's cut."""
    clips = [decode_file(shared / "data" / "ami" / f"{name}.wav").mono() for name in ("trn07", "trn08")]
    meeting = np.concatenate([clip[:30 * SAMPLE_RATE] for clip in clips])  # each clip's scored 30 s
    model = shared / "models" / "for-tests-silero-v6.2.0-ggml.bin"
    duration = len(meeting) / SAMPLE_RATE
    one = SileroVad(model)
    try:
        heard_once = speech_regions(speech_probabilities(meeting, one), FRAME_SECONDS, duration, GATE_RULES)
    finally:
        one.close()
    heard_twice = speech_regions(probabilities_with(model, meeting), FRAME_SECONDS, duration, GATE_RULES)
    assert covered(heard_once, 35.0, 38.6) == 0
    assert covered(heard_twice, 35.0, 38.6) == pytest.approx(3.6)


def test_a_live_stream_fed_in_pieces_hears_what_a_whole_recording_hears(shared: Path) -> None:
    """Live streams get the two listeners too: 96 ms at a time, the same probabilities."""
    meeting = decode_file(shared / "data" / "ami" / "trn08.wav").mono()[:20 * SAMPLE_RATE]
    model = shared / "models" / "for-tests-silero-v6.2.0-ggml.bin"
    stream = open_vad(model)
    try:
        step = 3 * FRAME_SAMPLES
        pieces = np.concatenate([stream.probabilities(meeting[start:start + step])
                                 for start in range(0, len(meeting), step)])
    finally:
        stream.close()
    np.testing.assert_allclose(pieces, probabilities_with(model, meeting), atol=1e-6)
