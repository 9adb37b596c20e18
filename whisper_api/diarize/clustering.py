"""Group window embeddings into speakers: average-linkage agglomerative clustering on cosine distance.

The linkage is computed on at most MAX_LINKAGE windows (evenly spread over the recording), so its
quadratic cost is bounded; every other window goes to the nearest cluster centroid.

The linkage threshold is low on purpose: one 1.6 s window is a noisy sample of a voice, so a
threshold high enough never to split one voice also merges similar voices. The over-split is then
undone in two steps: clusters too small to be a speaker of their own are dissolved, and clusters
whose centroids (averages over many windows, so far less noisy) are close are merged. Finally the
centroids are refined by a few rounds of nearest-centroid assignment (k-means on the unit sphere).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import IntArray
from whisper_api.options import SpeakerCount

MAX_LINKAGE = 2000
REFINE_ROUNDS = 3
MIN_SPEAKER_SHARE = 0.15
"""A cluster with less of the windows than this is dissolved into the others: short stretches of
overlapped speech, laughter or noise form such clusters far more often than a real speaker does."""
MIN_SPEAKER_WINDOWS = 150
"""...unless it holds this many windows (30 s of speech at the 0.2 s hop): in a long meeting a
speaker with a small share still says a lot."""
MERGE_DISTANCE = 0.14
"""Clusters whose centroids are closer than this (cosine distance) are one speaker."""


def _normalise(vectors: FloatArray) -> FloatArray:
    normalised: FloatArray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    return normalised


def _initial_labels(embeddings: FloatArray, threshold: float, count: SpeakerCount) -> IntArray:
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, threshold, criterion="distance")
    wanted = count.clamp(int(labels.max()))
    if wanted != labels.max():
        labels = fcluster(tree, wanted, criterion="maxclust")
    return np.asarray(labels - 1, np.int64)


def centroids(embeddings: FloatArray, labels: IntArray, count: int) -> FloatArray:
    sums = np.zeros((count, embeddings.shape[1]), np.float64)
    np.add.at(sums, labels, embeddings)
    return _normalise(sums.astype(np.float32))


def _nearest(embeddings: FloatArray, centres: FloatArray) -> IntArray:
    return np.asarray(np.argmax(embeddings @ centres.T, axis=1), np.int64)


def _compact(labels: IntArray) -> IntArray:
    """Labels renumbered 0..n-1 in the order of their values."""
    return np.asarray(np.searchsorted(np.unique(labels), labels), np.int64)


def _dissolve_minor(embeddings: FloatArray, labels: IntArray, floor: int) -> IntArray:
    """Reassign the windows of clusters too small to be a speaker, keeping at least ``floor`` clusters."""
    sizes = np.bincount(labels)
    major = (sizes >= MIN_SPEAKER_SHARE * len(labels)) | (sizes >= MIN_SPEAKER_WINDOWS)
    keep = max(floor, int(np.count_nonzero(major)), 1)
    largest = np.argsort(-sizes, kind="stable")[:keep]
    return _nearest(embeddings, centroids(embeddings, labels, len(sizes))[largest])


def _merge_close(embeddings: FloatArray, labels: IntArray, floor: int) -> IntArray:
    """Merge the two clusters with the closest centroids while they are closer than MERGE_DISTANCE."""
    labels = _compact(labels)
    while labels.max() + 1 > max(floor, 1):
        centres = centroids(embeddings, labels, int(labels.max()) + 1)
        similarity = centres @ centres.T
        np.fill_diagonal(similarity, -np.inf)
        first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if 1 - similarity[first, second] >= MERGE_DISTANCE:
            break
        labels = _compact(np.where(labels == second, first, labels))
    return labels


def cluster(embeddings: FloatArray, threshold: float, count: SpeakerCount) -> tuple[IntArray, FloatArray]:
    """A speaker label per embedding (speakers numbered by first appearance) and the speakers' centroids."""
    if len(embeddings) < 2:
        return np.zeros(len(embeddings), np.int64), _normalise(embeddings[:1].copy())
    sample = np.unique(np.linspace(0, len(embeddings) - 1, min(len(embeddings), MAX_LINKAGE)).astype(int))
    sample_labels = _initial_labels(embeddings[sample], threshold, count)
    labels = _nearest(embeddings, centroids(embeddings[sample], sample_labels, int(sample_labels.max()) + 1))
    labels[sample] = sample_labels
    if count.exact is None:  # the number of speakers is ours to decide
        floor = count.minimum or 1
        labels = _merge_close(embeddings, _dissolve_minor(embeddings, _compact(labels), floor), floor)
    labels = _compact(labels)
    centres = centroids(embeddings, labels, int(labels.max()) + 1)
    for _ in range(0 if count.exact else REFINE_ROUNDS):  # refining could empty a cluster the caller asked for
        labels = _compact(_nearest(embeddings, centres))
        centres = centroids(embeddings, labels, int(labels.max()) + 1)
    return by_first_appearance(labels, centres)


def by_first_appearance(labels: IntArray, centres: FloatArray) -> tuple[IntArray, FloatArray]:
    """Speakers renumbered 0, 1, ... in the order they first speak."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)  # order[i] = old label of the i-th speaker to appear
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[labels].astype(np.int64), centres[order]
