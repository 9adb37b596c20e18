"""Overlapped speech: where two people talk at once, the second one gets a turn of their own.

The segmentation model hears the recording in 10 s windows laid back to back (the last one padded
with silence; windows overlapping by half found the same overlaps at twice the cost). A frame's
probability of two speakers at once is its class probabilities summed over the pairs. The model
under-states it on meeting audio: on the AMI clips, of the speech frames it gave 0.2-0.3, half were
overlapped; 0.3-0.4, three in four; above 0.4, nearly all. A second speaker pays where overlap is
more likely than not, and by a margin, as one named wrong gains nothing: a frame above
``OVERLAP_PROBABILITY`` is taken for overlapped speech. Runs of such frames inside the speaker turns
become overlap regions. The second speaker of a region is, among the speakers other than the one
whose turn covers it, the one the embedding windows around the region resemble most. Where the turns
hold one voice only, it is a speaker of their own (two people talking at once prove there are two,
however little the second says alone), once one overlap lasts ``MIN_CLEAN_SECONDS``, the least
speech the pipeline takes for a voice, and two voices are more likely than not over it on average (a
proof needs more than a likely overlap): on single voices the model's rare false overlaps are
shorter or less sure. Words keep the speaker of their turn; the second speakers show in the turns
(RTTM, JSON).

The same decision marks the frames the speaker embeddings leave out (``overlapped_frames``): a
mixture of two voices is neither's.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import BoolArray
from whisper_api.diarize.fbank import FRAME, HOP
from whisper_api.diarize.segmentation import (
    CLASSES,
    FRAME_SECONDS,
    FRAME_SPAN,
    FRAME_STEP,
    FRAMES,
    WINDOW_SAMPLES,
    SegmentationModel,
)
from whisper_api.diarize.turns import covering_scores
from whisper_api.diarize.windows import MIN_CLEAN_SECONDS, check
from whisper_api.options import SpeakerCount
from whisper_api.sample_rate import SAMPLE_RATE
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad.regions import Region

WINDOWS_PER_BATCH = 8
OVERLAP_PROBABILITY = 0.3
"""The model's probability of two speakers above which a frame is taken for overlapped speech:
where, on the AMI clips, frames turned out overlapped about three times in four (see above)."""
PROOF_PROBABILITY = 0.5
"""The mean probability of two speakers an overlap needs to prove a second voice: more likely than not."""


def speaker_counts(model: SegmentationModel, samples: FloatArray, cancel: threading.Event | None = None
                   ) -> FloatArray:
    """(frames, 3): the probability that nobody, one speaker or two speak in each 16.875 ms frame of
    the recording (the class probabilities summed by how many speak)."""
    starts = np.arange(0, max(len(samples), 1), WINDOW_SAMPLES)
    counts = []
    for first in range(0, len(starts), WINDOWS_PER_BATCH):
        check(cancel)
        batch = starts[first:first + WINDOWS_PER_BATCH]
        windows = np.zeros((len(batch), WINDOW_SAMPLES), np.float32)
        for row, start in enumerate(batch):
            piece = samples[start:start + WINDOW_SAMPLES]
            windows[row, :len(piece)] = piece
        probabilities = np.exp(model.classes(windows)).reshape(-1, CLASSES)
        counts.append(np.stack([probabilities[:, 0], probabilities[:, 1:4].sum(axis=1),
                                probabilities[:, 4:7].sum(axis=1)], axis=1))
    return np.concatenate(counts)


def frame_times(count: int) -> FloatArray:
    """Centre time of each frame of ``speaker_counts``: the windows lie back to back, so frame ``i``
    is frame ``i % FRAMES`` of window ``i // FRAMES``."""
    window, frame = np.divmod(np.arange(count), FRAMES)
    return np.asarray((window * WINDOW_SAMPLES + frame * FRAME_STEP + FRAME_SPAN / 2) / SAMPLE_RATE, np.float64)


def two_speakers(counts: FloatArray) -> BoolArray:
    """The frames taken for overlapped speech."""
    return np.asarray(counts[:, 2] > OVERLAP_PROBABILITY)


def overlapped_frames(counts: FloatArray, sample_count: int) -> BoolArray:
    """Which 10 ms frames of a recording of ``sample_count`` samples (the speaker features' grid)
    lie in overlapped speech: the segmentation frame nearest each one's centre heard two speakers."""
    decided = two_speakers(counts)
    centres = np.arange(1 + sample_count // HOP) * HOP + FRAME / 2
    window, offset = np.divmod(centres, WINDOW_SAMPLES)
    nearest = np.clip(np.round((offset - FRAME_SPAN / 2) / FRAME_STEP), 0, FRAMES - 1)
    index = np.minimum(window.astype(np.int64) * FRAMES + nearest.astype(np.int64), len(decided) - 1)
    return np.asarray(decided[index])


def overlap_regions(counts: FloatArray) -> list[tuple[Region, float]]:
    """Runs of overlapped frames, each with its mean probability of two speakers."""
    decided = two_speakers(counts)
    times = frame_times(len(decided))
    edges = np.flatnonzero(np.diff(np.r_[0, decided.astype(np.int8), 0]))
    regions = []
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        region = Region(float(times[first] - FRAME_SECONDS / 2), float(times[last - 1] + FRAME_SECONDS / 2))
        regions.append((region, float(counts[first:last, 2].mean())))
    return regions


def second_speakers(regions: Sequence[tuple[Region, float]], turns: Sequence[SpeakerTurn], starts: FloatArray,
                    scores: FloatArray, count: SpeakerCount) -> list[SpeakerTurn]:
    """A turn for the second speaker of each overlap region inside a turn (``scores``: the
    windows starting at ``starts`` against each speaker); with one voice in the turns, the second
    is a new speaker, unless ``count`` allows only one or no overlap is long and sure enough to prove one."""
    present = sorted({turn.speaker for turn in turns})
    longest = max((region.duration for region, probability in regions if probability > PROOF_PROBABILITY),
                  default=0.0)
    if not present or (len(present) == 1 and not (count.allows(2) and longest >= MIN_CLEAN_SECONDS)):
        return []
    newcomer = present[-1] + 1
    ends = [turn.end for turn in turns]  # turns are in time order and do not overlap
    added = []
    for region, confidence in regions:
        for turn in turns[bisect.bisect_right(ends, region.start):]:
            if turn.start >= region.end:
                break
            start, end = max(region.start, turn.start), min(region.end, turn.end)
            resemblance = covering_scores(np.array([(start + end) / 2]), starts, scores)[0]
            others = [speaker for speaker in present if speaker != turn.speaker]
            second = max(others, key=lambda speaker: resemblance[speaker]) if others else newcomer
            added.append(SpeakerTurn(round(start, 3), round(end, 3), second, confidence))
    return added
