"""Speaker turns: who speaks at each moment of speech, from the windows that cover it.

Every point of a 50 ms grid inside a speech region takes the speaker whose centroid is, on
average, closest to the windows covering that point. Runs of one speaker become turns; turns
shorter than ``min_turn`` are absorbed by a neighbour, because a switch of speaker for a
fraction of a second is far more often an error than a real interjection.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import Floats, Labels
from whisper_api.diarize.windows import WINDOW_SECONDS
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad.regions import Region

GRID_SECONDS = 0.05
CONFIDENCE_SHARPNESS = 10.0
"""Scales cosine similarities before the softmax that turns them into a speaker confidence."""


def covering_scores(points: Floats, starts: Floats, scores: Floats) -> Floats:
    """Mean score of the windows covering each point (the nearest window where none covers it)."""
    cumulative = np.vstack([np.zeros((1, scores.shape[1])), np.cumsum(scores, axis=0)])
    low = np.searchsorted(starts, points - WINDOW_SECONDS, side="right")
    high = np.searchsorted(starts, points, side="right")
    nearest = np.clip(np.searchsorted(starts + WINDOW_SECONDS / 2, points), 0, len(starts) - 1)
    empty = high <= low
    low = np.where(empty, nearest, low)
    high = np.where(empty, nearest + 1, high)
    means: Floats = (cumulative[high] - cumulative[low]) / (high - low)[:, None]
    return means


def _confidence(point_scores: Floats) -> Floats:
    sharpened = np.exp(CONFIDENCE_SHARPNESS * (point_scores - point_scores.max(axis=1, keepdims=True)))
    confidence: Floats = sharpened.max(axis=1) / sharpened.sum(axis=1)
    return confidence


def runs_to_turns(edges: Floats, speakers: Labels, confidence: Floats) -> list[SpeakerTurn]:
    """Turns from a speaker and a confidence per grid cell (cell ``i`` spans ``edges[i]..edges[i + 1]``)."""
    turns = []
    change = np.flatnonzero(np.diff(speakers)) + 1
    for first, last in zip(np.r_[0, change], np.r_[change, len(speakers)], strict=True):
        turns.append(SpeakerTurn(round(float(edges[first]), 3), round(float(edges[last]), 3), int(speakers[first]),
                                 float(np.mean(confidence[first:last]))))
    return turns


def _region_turns(region: Region, starts: FloatArray, scores: FloatArray) -> list[SpeakerTurn]:
    count = max(1, round(region.duration / GRID_SECONDS))
    edges = np.linspace(region.start, region.end, count + 1)
    point_scores = covering_scores((edges[:-1] + edges[1:]) / 2, starts, scores)
    return runs_to_turns(edges, np.argmax(point_scores, axis=1), _confidence(point_scores))


def absorb_short(turns: list[SpeakerTurn], min_turn: float) -> list[SpeakerTurn]:
    """Give each too-short turn to its longer neighbour, shortest first, then join equal neighbours.

    A heap and neighbour links keep this O(n log n): channel mode on a long recording makes tens of
    thousands of 32 ms runs, which a rescan per merge would take minutes over."""
    items = list(turns)
    previous, following = list(range(-1, len(items) - 1)), [*range(1, len(items)), -1]
    alive, remaining = [True] * len(items), len(items)
    heap = [(turn.duration, index) for index, turn in enumerate(items)]
    heapq.heapify(heap)
    while heap and remaining > 1:
        duration, index = heapq.heappop(heap)
        if not alive[index] or duration != items[index].duration:
            continue  # an entry from before this turn grew or went
        if duration >= min_turn:
            break
        target = max((i for i in (previous[index], following[index]) if i >= 0), key=lambda i: items[i].duration)
        short, long = items[index], items[target]
        items[target] = SpeakerTurn(min(short.start, long.start), max(short.end, long.end), long.speaker,
                                    long.confidence)
        heapq.heappush(heap, (items[target].duration, target))
        alive[index], remaining = False, remaining - 1
        before, after = previous[index], following[index]
        if before >= 0:
            following[before] = after
        if after >= 0:
            previous[after] = before
    return _join([item for item, live in zip(items, alive, strict=True) if live])


def _join(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    joined: list[SpeakerTurn] = []
    for turn in turns:
        if joined and joined[-1].speaker == turn.speaker and turn.start - joined[-1].end < 1e-6:
            last = joined[-1]
            weight = last.duration + turn.duration
            confidence = (last.confidence * last.duration + turn.confidence * turn.duration) / max(weight, 1e-9)
            joined[-1] = SpeakerTurn(last.start, turn.end, turn.speaker, confidence)
        else:
            joined.append(turn)
    return joined


def turns_from_frames(regions: Sequence[Region], labels: Labels, confidence: FloatArray,
                      frame_seconds: float, min_turn: float) -> list[SpeakerTurn]:
    """Turns from a speaker per frame (frame ``i`` spans ``[i, i + 1) * frame_seconds``), region by region."""
    turns: list[SpeakerTurn] = []
    for region in regions:
        first = round(region.start / frame_seconds)
        last = min(len(labels), round(region.end / frame_seconds))
        if last <= first:
            continue
        edges = np.clip(np.arange(first, last + 1) * frame_seconds, region.start, region.end)
        turns.extend(absorb_short(runs_to_turns(edges, labels[first:last], confidence[first:last]), min_turn))
    return turns


def speaker_turns(regions: Sequence[Region], starts: FloatArray, embeddings: FloatArray, centres: FloatArray,
                  min_turn: float) -> list[SpeakerTurn]:
    """The turns of every region, in time order."""
    if len(starts) == 0:
        return []
    scores = embeddings @ centres.T
    turns: list[SpeakerTurn] = []
    for region in regions:
        turns.extend(absorb_short(_region_turns(region, starts, scores), min_turn))
    return turns
