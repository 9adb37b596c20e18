"""Group window embeddings into speakers: spectral clustering on a nearest-neighbour graph.

Each window is joined to the windows whose voices are closest to its own, as many as make up
``MIN_SPEAKER_SECONDS`` of speech. A speaker with at least that much speech is then a group of
windows joined mostly among themselves, which shows as a near-zero eigenvalue of the graph's
normalised Laplacian: the number of speakers is where the eigenvalues jump (the eigengap),
within the caller's bounds. The smallest speaker that can be found is an amount of speech, the
same in a 30 s clip and in a meeting of an hour; no rule looks at a cluster's share of the
recording. The windows' coordinates in the first eigenvectors are grouped by k-means, and the
speakers' centroids are then refined in the embedding space by nearest-centroid rounds (k-means
on the unit sphere), for automatic and fixed speaker counts alike.

The graph is built on at most MAX_GRAPH windows evenly spread over the recording, so its cost is
bounded; the others go to the nearest centroid before the refinement.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.linalg import eigh

from whisper_api.audio import FloatArray
from whisper_api.diarize.arrays import IntArray
from whisper_api.options import SpeakerCount

MIN_SPEAKER_SECONDS = 5.0
"""Speech a voice needs to be told apart as a speaker of its own."""
MAX_SPEAKERS_FOUND = 10
"""The most speakers the eigengap may choose by itself (a caller's bounds may ask for more)."""
MAX_GRAPH = 1500
REFINE_ROUNDS = 3
KMEANS_STARTS = 10


def _normalise(vectors: FloatArray) -> FloatArray:
    normalised: FloatArray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    return normalised


def centroids(embeddings: FloatArray, labels: IntArray, count: int) -> FloatArray:
    sums = np.zeros((count, embeddings.shape[1]), np.float64)
    np.add.at(sums, labels, embeddings)
    return _normalise(sums.astype(np.float32))


def _nearest(embeddings: FloatArray, centres: FloatArray) -> IntArray:
    return np.asarray(np.argmax(embeddings @ centres.T, axis=1), np.int64)


def _compact(labels: IntArray) -> IntArray:
    """Labels renumbered 0..n-1 in the order of their values."""
    return np.asarray(np.searchsorted(np.unique(labels), labels), np.int64)


def neighbour_graph(embeddings: FloatArray, neighbours: int) -> FloatArray:
    """Symmetric affinity: 1 between a window and each of its ``neighbours`` most similar windows
    (0.5 where only one of the two chose the other)."""
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    chosen = np.argpartition(-similarity, neighbours - 1, axis=1)[:, :neighbours]
    graph = np.zeros_like(similarity)
    np.put_along_axis(graph, chosen, 1.0, axis=1)
    symmetric: FloatArray = (graph + graph.T) / 2
    return symmetric


def spectrum(graph: FloatArray, count: int) -> tuple[FloatArray, FloatArray]:
    """The ``count`` smallest eigenvalues of the graph's normalised Laplacian, ascending, and their
    eigenvectors (computed as the largest of the normalised affinity, which has the same vectors)."""
    scale = 1 / np.sqrt(graph.sum(axis=1))
    affinity = graph * scale[:, None] * scale[None, :]
    size = len(graph)
    values, vectors = eigh(affinity, subset_by_index=[size - count, size - 1])
    return (1 - values[::-1]).astype(np.float32), vectors[:, ::-1].astype(np.float32)


def speaker_number(eigenvalues: FloatArray, count: SpeakerCount) -> int:
    """Where the Laplacian's eigenvalues jump most, brought within the caller's bounds."""
    if count.exact is not None:
        return min(count.exact, len(eigenvalues))
    gaps = np.diff(eigenvalues)  # gaps[i]: between eigenvalue i and i + 1, so choosing i + 1 speakers
    found = 1 + int(np.argmax(gaps)) if len(gaps) else 1
    return int(np.clip(found, count.minimum or 1, min(count.maximum or len(eigenvalues), len(eigenvalues))))


def _kmeans(points: FloatArray, number: int) -> IntArray:
    """The best of several seeded k-means++ runs (lowest within-cluster sum of squares)."""
    best: tuple[float, IntArray] | None = None
    for seed in range(KMEANS_STARTS):
        centres, labels = kmeans2(points.astype(np.float64), number, minit="++", seed=seed)
        inertia = float(np.sum(np.square(points - centres[labels])))
        if best is None or inertia < best[0]:
            best = (inertia, np.asarray(labels, np.int64))
    assert best is not None
    return best[1]


def spectral_labels(embeddings: FloatArray, count: SpeakerCount, seconds_per_window: float) -> IntArray:
    neighbours = int(np.clip(round(MIN_SPEAKER_SECONDS / seconds_per_window), 2, len(embeddings) - 1))
    graph = neighbour_graph(embeddings, neighbours)
    most = max(MAX_SPEAKERS_FOUND, count.exact or 0, count.minimum or 0, count.maximum or 0)
    eigenvalues, eigenvectors = spectrum(graph, min(most + 1, len(embeddings)))
    number = speaker_number(eigenvalues, count)
    if number == 1:
        return np.zeros(len(embeddings), np.int64)
    return _compact(_kmeans(_normalise(eigenvectors[:, :number]), number))


def _refined(embeddings: FloatArray, labels: IntArray, keep_count: bool) -> IntArray:
    """Nearest-centroid rounds; with ``keep_count``, a round that would empty a cluster is not taken."""
    for _ in range(REFINE_ROUNDS):
        moved = _nearest(embeddings, centroids(embeddings, labels, int(labels.max()) + 1))
        if keep_count and len(np.unique(moved)) < labels.max() + 1:
            break
        labels = _compact(moved)
    return labels


def cluster(embeddings: FloatArray, count: SpeakerCount, hop_seconds: float) -> tuple[IntArray, FloatArray]:
    """A speaker label per embedding (speakers numbered by first appearance) and the speakers' centroids.
    ``hop_seconds`` is the speech between consecutive windows."""
    if len(embeddings) < 3:
        return np.zeros(len(embeddings), np.int64), _normalise(embeddings[:1].copy())
    sample = np.unique(np.linspace(0, len(embeddings) - 1, min(len(embeddings), MAX_GRAPH)).astype(int))
    sample_labels = spectral_labels(embeddings[sample], count, hop_seconds * len(embeddings) / len(sample))
    labels = _nearest(embeddings, centroids(embeddings[sample], sample_labels, int(sample_labels.max()) + 1))
    labels[sample] = sample_labels
    labels = _refined(embeddings, _compact(labels), keep_count=count.exact is not None)
    return by_first_appearance(labels, centroids(embeddings, labels, int(labels.max()) + 1))


def by_first_appearance(labels: IntArray, centres: FloatArray) -> tuple[IntArray, FloatArray]:
    """Speakers renumbered 0, 1, ... in the order they first speak."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)  # order[i] = old label of the i-th speaker to appear
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[labels].astype(np.int64), centres[order]
