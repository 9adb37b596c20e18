"""Short audio decodes with a 15.4 s encoder context; longer audio, and an explicit context, are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whisper_api.core import fitted
from whisper_api.engine import Decoding, EngineJob
from whisper_api.engine.base import CONTEXT_FLOOR, FULL_CONTEXT
from whisper_api.options import TranscribeOptions


def job(seconds: float, audio_context: int = 0) -> EngineJob:
    return EngineJob(np.zeros(round(seconds * 16000), np.float32), Path("model.bin"),
                     Decoding.of(TranscribeOptions(audio_context=audio_context)), threads=1)


@pytest.mark.parametrize(("seconds", "given", "used"), [
    (1.0, 0, CONTEXT_FLOOR), (14.0, 0, CONTEXT_FLOOR), (15.0, 0, 0), (40.0, 0, 0),
    (5.0, FULL_CONTEXT, FULL_CONTEXT), (5.0, 256, 256)])
def test_the_context_fits_short_audio_only(seconds: float, given: int, used: int) -> None:
    assert fitted(job(seconds, given)).decoding.audio_context == used
