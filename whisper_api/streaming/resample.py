"""Sample-rate conversion to 16 kHz for audio that arrives in pieces: soxr's streaming resampler.

It low-passes before decimating (48 kHz speech does not alias into the band whisper hears) and
carries its state across chunks, so any chunking of the input gives the same output. It holds
back a few milliseconds of output, which ``last=True`` releases at the end of the stream.
"""

from __future__ import annotations

import numpy as np
import soxr

from whisper_api.audio import SAMPLE_RATE, FloatArray


class Resampler:
    """Turns (frames, channels) chunks at ``rate`` into chunks at 16 kHz."""

    def __init__(self, rate: int, channels: int) -> None:
        self._stream = None if rate == SAMPLE_RATE else soxr.ResampleStream(
            rate, SAMPLE_RATE, channels, dtype="float32", quality="HQ")

    def __call__(self, chunk: FloatArray, last: bool = False) -> FloatArray:
        if self._stream is None:
            return chunk
        resampled: FloatArray = self._stream.resample_chunk(np.ascontiguousarray(chunk, dtype=np.float32), last=last)
        return resampled
