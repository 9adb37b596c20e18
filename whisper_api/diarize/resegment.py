"""Resegmentation: redraw the turn boundaries with per-speaker Gaussian mixtures on cepstral frames.

The window embeddings place a boundary only to within a window (1.5 s), and a window that covers
two speakers pulls toward whichever dominates it. Once the clustering has said who the speakers
are, each speaker's own frames can train a small model of that voice in this very recording (same
room, same microphone), and every 10 ms frame of speech is scored against each model. The frame
scores are averaged over a short moving window (single frames are far too noisy to decide on)
and each frame goes to the best-scoring speaker; the new turns then train the models again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.fft import dct
from scipy.ndimage import uniform_filter1d

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import BoolArray, Float64Array, IntArray
from whisper_api.diarize.fbank import FRAME, FRAMES_PER_SECOND, HOP, frame_count, log_fbank
from whisper_api.diarize.turns import turns_from_frames
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad.regions import Region

Mixture = tuple[Float64Array, Float64Array, Float64Array]
"""A diagonal Gaussian mixture: weights (K,), means (K, D), variances (K, D)."""

CEPSTRA = 20
"""Cepstral coefficients per frame, c0 (loudness) included: it helps tell near and far talkers apart."""
COMPONENTS = 8
"""Gaussians per speaker: enough for a voice's main sound classes, few enough for ~5 s of speech."""
EM_ROUNDS = 10
PASSES = 2
"""Rounds of train-then-relabel; a third brought nothing in tuning."""
SMOOTHING_SECONDS = 1.0
"""Moving average of the frame log-likelihoods: about one word-to-phrase, shorter than most turns."""
MIN_FRAMES_PER_COMPONENT = 20
MIN_SPEAKER_FRAMES = 50
"""A speaker left with fewer frames (0.5 s) has no model; its frames go to the others."""
MAX_TRAINING_FRAMES = 30000
"""Five minutes of a voice: plenty for 8 Gaussians, and the cost and memory of training stay bounded."""
BLOCK_FRAMES = 30000
VARIANCE_FLOOR = 0.01
"""Fraction of the overall variance below which a component's variance is not allowed to shrink."""


def cepstra(samples: FloatArray) -> Float64Array:
    """(frames, CEPSTRA) cepstra of the encoder's log filterbanks on its 10 ms frame grid, a block of
    frames at a time (an hour's filterbanks at once would take hundreds of megabytes)."""
    count = frame_count(len(samples))
    out = np.empty((count, CEPSTRA), np.float64)
    for first in range(0, count, BLOCK_FRAMES):
        frames = min(BLOCK_FRAMES, count - first)
        span = samples[first * HOP:(first + frames - 1) * HOP + FRAME]
        out[first:first + frames] = dct(log_fbank(span).astype(np.float64), type=2, norm="ortho", axis=1)[:, :CEPSTRA]
    return out


def _component_log_likelihoods(frames: Float64Array, mixture: Mixture) -> Float64Array:
    weights, means, variances = mixture
    precisions = 1 / variances
    constant = np.log(weights) - 0.5 * np.sum(np.log(2 * np.pi * variances), axis=1)
    quadratic = (frames * frames) @ precisions.T - 2 * frames @ (means * precisions).T
    return np.asarray(constant - 0.5 * (quadratic + np.sum(means * means * precisions, axis=1)), np.float64)


def log_likelihoods(frames: Float64Array, mixture: Mixture) -> Float64Array:
    """Per-frame log-likelihood under the mixture (log-sum-exp over its components), a block of
    frames at a time so the temporaries stay small."""
    result = np.empty(len(frames), np.float64)
    for first in range(0, len(frames), BLOCK_FRAMES):
        components = _component_log_likelihoods(frames[first:first + BLOCK_FRAMES], mixture)
        peak = components.max(axis=1)
        result[first:first + BLOCK_FRAMES] = peak + np.log(np.exp(components - peak[:, None]).sum(axis=1))
    return result


def fit_mixture(frames: Float64Array, components: int = COMPONENTS, rounds: int = EM_ROUNDS) -> Mixture:
    """A diagonal mixture fitted by EM, started from frames drawn with a fixed seed (so runs repeat),
    on at most MAX_TRAINING_FRAMES of them, evenly spread."""
    if len(frames) > MAX_TRAINING_FRAMES:
        frames = frames[np.linspace(0, len(frames) - 1, MAX_TRAINING_FRAMES).astype(int)]
    count = max(1, min(components, len(frames) // MIN_FRAMES_PER_COMPONENT))
    floor = VARIANCE_FLOOR * frames.var(axis=0) + 1e-6
    starts = np.random.default_rng(0).choice(len(frames), count, replace=False)
    spread = np.tile(frames.var(axis=0) + floor, (count, 1))
    mixture: Mixture = (np.full(count, 1 / count), frames[starts].copy(), spread)
    for _ in range(rounds):
        responsibilities = _component_log_likelihoods(frames, mixture)
        responsibilities = np.exp(responsibilities - responsibilities.max(axis=1, keepdims=True))
        responsibilities /= responsibilities.sum(axis=1, keepdims=True)
        mass = responsibilities.sum(axis=0) + 1e-10
        means = (responsibilities.T @ frames) / mass[:, None]
        variances = np.maximum((responsibilities.T @ (frames * frames)) / mass[:, None] - means * means, floor)
        mixture = (mass / len(frames), means, variances)
    return mixture


def _frame_span(region: Region, frame_count: int) -> tuple[int, int]:
    return round(region.start * FRAMES_PER_SECOND), min(frame_count, round(region.end * FRAMES_PER_SECOND))


def _frame_labels(turns: Sequence[SpeakerTurn], frame_count: int) -> IntArray:
    """The speaker of every frame, -1 outside the turns."""
    labels = np.full(frame_count, -1, np.int64)
    for turn in turns:
        labels[round(turn.start * FRAMES_PER_SECOND):round(turn.end * FRAMES_PER_SECOND)] = turn.speaker
    return labels


def _scores(frames: Float64Array, labels: IntArray, voiced: BoolArray, modelled: BoolArray) -> Float64Array:
    """(frames, speakers) log-likelihoods of the modelled speakers on the frames inside turns,
    centred per frame (which leaves every decision the same).

    Unvoiced frames (pauses bridged into a region) score zero for every speaker: silence says
    nothing about who talks, and letting it vote pulled boundaries into the next speaker's speech.
    The models still learn from all their frames: on the AMI meetings, voiced-only training cost
    3 points of DER."""
    scores = np.full((len(frames), len(modelled)), -np.inf)
    inside, speakers = np.flatnonzero(labels >= 0), np.flatnonzero(modelled)
    mixtures = [fit_mixture(frames[labels == speaker]) for speaker in speakers]
    rows = np.empty((len(inside), len(speakers)))
    for first in range(0, len(inside), BLOCK_FRAMES):
        block = frames[inside[first:first + BLOCK_FRAMES]]
        rows[first:first + BLOCK_FRAMES] = np.stack([log_likelihoods(block, mixture) for mixture in mixtures], axis=1)
    rows -= rows.mean(axis=1, keepdims=True)
    rows[~voiced[inside]] = 0.0
    scores[np.ix_(inside, speakers)] = rows
    return scores


def _relabel(scores: Float64Array, modelled: BoolArray, regions: Sequence[Region],
             smoothing: int) -> tuple[IntArray, Float64Array]:
    """Best speaker per frame on smoothed scores, region by region (no smoothing across silence)."""
    labels = np.full(len(scores), -1, np.int64)
    confidence = np.zeros(len(scores))
    for region in regions:
        first, last = _frame_span(region, len(scores))
        if last <= first:
            continue
        smoothed = np.full((last - first, scores.shape[1]), -np.inf)
        smoothed[:, modelled] = uniform_filter1d(scores[first:last, modelled], smoothing, axis=0, mode="nearest")
        labels[first:last] = np.argmax(smoothed, axis=1)
        posterior = np.exp(smoothed - smoothed.max(axis=1, keepdims=True))
        confidence[first:last] = posterior.max(axis=1) / posterior.sum(axis=1)
    return labels, confidence


def resegment(samples: FloatArray, regions: Sequence[Region], turns: Sequence[SpeakerTurn], voiced: BoolArray,
              min_turn: float) -> list[SpeakerTurn]:
    """The turns redrawn frame by frame (``voiced``: which 10 ms frames hold speech); unchanged
    when fewer than two speakers have enough speech to model."""
    if len({turn.speaker for turn in turns}) < 2:
        return list(turns)
    speakers = max(turn.speaker for turn in turns) + 1
    frames = cepstra(samples)
    labels = _frame_labels(turns, len(frames))
    confidence = np.ones(len(frames))
    smoothing = max(1, round(SMOOTHING_SECONDS * FRAMES_PER_SECOND))
    for _ in range(PASSES):
        modelled = np.bincount(labels[labels >= 0], minlength=speakers) >= MIN_SPEAKER_FRAMES
        if np.count_nonzero(modelled) < 2:
            break  # at most one speaker could be modelled: nothing to decide between
        labels, confidence = _relabel(_scores(frames, labels, voiced, modelled), modelled, regions, smoothing)
    return turns_from_frames(regions, labels, confidence.astype(np.float32), 1 / FRAMES_PER_SECOND, min_turn)
