"""Speaker embeddings of overlapping 1.5 s windows laid over the speech regions.

Each region gets windows every ``HOP_SECONDS``, the last one flush with the region's end, so
every moment of speech is covered; a region shorter than a window gets one window centred on
it (with a little of the audio around it). Filterbanks are computed per batch of windows, so
memory stays bounded however long the recording; each window's are normalised to zero mean, as
the encoder was trained.

Frames of overlapped speech (when the caller knows them) are left out of a window's embedding, as
pyannote's pipeline leaves them out: two voices at once make a print of neither, and such windows
otherwise split one voice into several clusters or pull two together. A window keeps all its frames
when fewer than ``MIN_CLEAN_SECONDS`` of it are clean.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import BoolArray
from whisper_api.diarize.encoder import BATCH_WINDOWS, EMBEDDING_SIZE, SpeakerEncoder
from whisper_api.diarize.fbank import FRAME, FRAMES_PER_SECOND, HOP, SAMPLE_RATE, frame_count, log_fbank
from whisper_api.errors import TranscriptionCancelled
from whisper_api.vad.regions import Region

WINDOW_SECONDS = 1.5
"""The window length the encoder is used with for diarization in 3D-Speaker's own recipe."""
HOP_SECONDS = 0.75
WINDOW_SAMPLES = round(WINDOW_SECONDS * SAMPLE_RATE)
WINDOW_FRAMES = frame_count(WINDOW_SAMPLES)
MIN_CLEAN_SECONDS = 0.5
"""The least speech a window's embedding is made of when overlapped frames are left out: the
shortest segment Kaldi's diarization recipes embed (with 1.5 s windows every 0.75 s, as here)."""
MIN_CLEAN_FRAMES = round(MIN_CLEAN_SECONDS * FRAMES_PER_SECOND)


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


def _batches(starts: FloatArray) -> Iterator[FloatArray]:
    for first in range(0, len(starts), BATCH_WINDOWS):
        yield starts[first:first + BATCH_WINDOWS]


def _batch_windows(samples: FloatArray, starts: FloatArray) -> FloatArray:
    """(windows, WINDOW_FRAMES, bands) mean-normalised filterbanks, on the 10 ms frame grid."""
    first = round(starts[0] * FRAMES_PER_SECOND)
    offsets = np.round(starts * FRAMES_PER_SECOND).astype(int) - first
    span = samples[first * HOP:(first + int(offsets[-1])) * HOP + WINDOW_SAMPLES]
    wanted = (int(offsets[-1]) + WINDOW_FRAMES - 1) * HOP + FRAME
    if len(span) < wanted:  # audio shorter than a window: pad with silence
        span = np.pad(span, (0, wanted - len(span)))
    features = log_fbank(span)
    windows = np.stack([features[offset:offset + WINDOW_FRAMES] for offset in offsets])
    return np.asarray(windows - windows.mean(axis=1, keepdims=True), np.float32)


def check(cancel: threading.Event | None) -> None:
    """Stop a diarization whose caller gave up (client gone, timeout, Ctrl-C)."""
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled("diarization cancelled")


def embed_regions(samples: FloatArray, regions: Sequence[Region], encoder: SpeakerEncoder,
                  cancel: threading.Event | None = None, overlapped: BoolArray | None = None
                  ) -> tuple[FloatArray, FloatArray]:
    """Start times and unit embeddings of the windows laid over ``regions`` of ``samples``
    (``overlapped``: which 10 ms frames of the recording to leave out, if known)."""
    starts = window_starts(regions, len(samples) / SAMPLE_RATE)
    return starts, embed_windows(samples, starts, encoder, cancel, overlapped)


def embed_windows(samples: FloatArray, starts: FloatArray, encoder: SpeakerEncoder,
                  cancel: threading.Event | None = None, overlapped: BoolArray | None = None) -> FloatArray:
    """(windows, EMBEDDING_SIZE) unit embeddings of the windows starting at ``starts``; a set
    ``cancel`` stops between batches with TranscriptionCancelled."""
    embeddings = [np.zeros((0, EMBEDDING_SIZE), np.float32)]
    for batch in _batches(starts):
        check(cancel)
        features = _batch_windows(samples, batch)
        if overlapped is None:
            embeddings.append(encoder.embed(features))
        else:
            embeddings.append(_embed_clean(encoder, features, _clean_frames(batch, overlapped)))
    return np.concatenate(embeddings)


def _clean_frames(starts: FloatArray, overlapped: BoolArray) -> BoolArray:
    """(windows, WINDOW_FRAMES): which frames of each window lie outside overlapped speech."""
    frames = np.round(starts * FRAMES_PER_SECOND).astype(np.int64)[:, None] + np.arange(WINDOW_FRAMES)
    return np.asarray(~overlapped[np.minimum(frames, len(overlapped) - 1)])


def _embed_clean(encoder: SpeakerEncoder, features: FloatArray, clean: BoolArray) -> FloatArray:
    """Windows without overlap (or with too little clean speech) in one batch; the others each
    from their clean frames alone."""
    whole = clean.all(axis=1) | (clean.sum(axis=1) < MIN_CLEAN_FRAMES)
    embeddings = np.empty((len(features), EMBEDDING_SIZE), np.float32)
    embeddings[whole] = encoder.embed(features[whole])
    for row in np.flatnonzero(~whole):
        embeddings[row] = encoder.embed(features[row, clean[row]][None])[0]
    return embeddings
