"""Speaker embeddings of overlapping 1.6 s windows laid over the speech regions.

Each region gets windows every ``HOP_SECONDS``, the last one flush with the region's end, so
every moment of speech is covered; a region shorter than a window gets one window centred on
it (with a little of the audio around it). Mel spectra are computed per batch of windows, so
memory stays bounded however long the recording.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.diarize.encoder import BATCH_WINDOWS, EMBEDDING_SIZE, WINDOW_FRAMES, SpeakerEncoder
from whisper_api.diarize.features import FRAMES_PER_SECOND, HOP, SAMPLE_RATE, mel_spectrogram
from whisper_api.errors import TranscriptionCancelled
from whisper_api.vad.regions import Region

WINDOW_SECONDS = WINDOW_FRAMES / FRAMES_PER_SECOND
HOP_SECONDS = 0.2
TARGET_DBFS = -30.0
"""The level the encoder's training audio was normalised to."""


def window_starts(regions: Sequence[Region], duration: float) -> FloatArray:
    """Start times (seconds) of the windows, in time order."""
    starts: list[float] = []
    latest_start = max(duration - WINDOW_SECONDS, 0.0)
    for region in regions:
        if region.duration <= WINDOW_SECONDS:
            starts.append(min(max(region.start + region.duration / 2 - WINDOW_SECONDS / 2, 0.0), latest_start))
            continue
        count = int(np.ceil((region.duration - WINDOW_SECONDS) / HOP_SECONDS)) + 1
        steps = np.minimum(np.arange(count) * HOP_SECONDS, region.duration - WINDOW_SECONDS)
        starts.extend((region.start + steps).tolist())
    return np.asarray(starts, np.float64)


def speech_gain(samples: FloatArray, regions: Sequence[Region]) -> float:
    """The gain that brings the speech to TARGET_DBFS (never more than +40 dB: silence stays silence)."""
    energy = sum(float(np.sum(np.square(samples[int(r.start * SAMPLE_RATE):int(r.end * SAMPLE_RATE)],
                                        dtype=np.float64))) for r in regions)
    count = sum(int(r.end * SAMPLE_RATE) - int(r.start * SAMPLE_RATE) for r in regions)
    if count == 0 or energy == 0:
        return 1.0
    level_db = 10 * np.log10(energy / count)
    return float(10 ** (min(TARGET_DBFS - level_db, 40.0) / 20))


def _batches(starts: FloatArray) -> Iterator[FloatArray]:
    for first in range(0, len(starts), BATCH_WINDOWS):
        yield starts[first:first + BATCH_WINDOWS]


def _batch_windows(samples: FloatArray, starts: FloatArray, gain: float) -> FloatArray:
    first = round(starts[0] * FRAMES_PER_SECOND)
    offsets = np.round(starts * FRAMES_PER_SECOND).astype(int) - first
    span = samples[first * HOP:(first + int(offsets[-1]) + WINDOW_FRAMES) * HOP] * np.float32(gain)
    mel = mel_spectrogram(span)
    if len(mel) < offsets[-1] + WINDOW_FRAMES:  # audio shorter than a window: pad with silence
        mel = np.pad(mel, ((0, int(offsets[-1]) + WINDOW_FRAMES - len(mel)), (0, 0)))
    return np.stack([mel[offset:offset + WINDOW_FRAMES] for offset in offsets])


def check(cancel: threading.Event | None) -> None:
    """Stop a diarization whose caller gave up (client gone, timeout, Ctrl-C)."""
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled("diarization cancelled")


def embed_regions(samples: FloatArray, regions: Sequence[Region], encoder: SpeakerEncoder,
                  cancel: threading.Event | None = None) -> tuple[FloatArray, FloatArray]:
    """Start times and unit embeddings of the windows laid over ``regions`` of ``samples``."""
    starts = window_starts(regions, len(samples) / SAMPLE_RATE)
    return starts, embed_windows(samples, starts, encoder, speech_gain(samples, regions), cancel)


def embed_windows(samples: FloatArray, starts: FloatArray, encoder: SpeakerEncoder, gain: float,
                  cancel: threading.Event | None = None) -> FloatArray:
    """(windows, EMBEDDING_SIZE) unit embeddings of the windows starting at ``starts``; a set
    ``cancel`` stops between batches with TranscriptionCancelled."""
    embeddings = [np.zeros((0, EMBEDDING_SIZE), np.float32)]
    for batch in _batches(starts):
        check(cancel)
        embeddings.append(encoder.embed(_batch_windows(samples, batch, gain)))
    return np.concatenate(embeddings)
