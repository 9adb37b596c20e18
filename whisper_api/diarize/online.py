"""Speakers of a live stream, consistent from its first utterance to its last.

Each final result's audio is embedded and clustered on its own, then every local speaker is
matched to the stream's running speaker centroids: the nearest one if it is close enough
(cosine distance under the threshold), else a new speaker while the count allows. Centroids
are running sums of embeddings, so a speaker's voice model sharpens as the stream goes on.
Interim results are labelled against the centroids without changing them: their audio comes
back in the final.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.diarize.assign import turn_for
from whisper_api.diarize.clustering import cluster
from whisper_api.diarize.diarizer import Diarizer
from whisper_api.diarize.options import DiarizeOptions, SpeakerCount
from whisper_api.diarize.pipeline import MIN_TURN
from whisper_api.diarize.speech import Region
from whisper_api.diarize.turns import speaker_turns
from whisper_api.transcript import Word


class _Speakers:
    """One channel's running centroid sums."""

    def __init__(self) -> None:
        self.sums = np.zeros((0, 256), np.float64)

    def centres(self) -> FloatArray:
        norms = np.maximum(np.linalg.norm(self.sums, axis=1, keepdims=True), 1e-12)
        centres: FloatArray = (self.sums / norms).astype(np.float32)
        return centres

    def match(self, local: FloatArray, threshold: float, count: SpeakerCount) -> int:
        """The stream speaker for a local speaker's centroid (a new one when none is close)."""
        limit = count.exact or count.maximum
        if len(self.sums):
            similarities = self.centres() @ local
            best = int(np.argmax(similarities))
            if 1 - similarities[best] < threshold or (limit is not None and len(self.sums) >= limit):
                return best
        self.sums = np.vstack([self.sums, np.zeros((1, self.sums.shape[1]))])
        return len(self.sums) - 1


class SpeakerTracker:
    def __init__(self, options: DiarizeOptions) -> None:
        self.options = options
        self._channels: dict[int, _Speakers] = {}
        self._lock = threading.Lock()

    def label(self, diarizer: Diarizer, channel: int, samples: FloatArray, words: Sequence[Word],
              update: bool = True) -> tuple[Word, ...]:
        """``words`` timed from ``samples[0]``, each with its stream speaker."""
        if not words:
            return tuple(words)
        if self.options.mode == "channel":
            return tuple(_with_speaker(word, channel) for word in words)
        region = Region(0.0, len(samples) / SAMPLE_RATE)
        starts, embeddings = diarizer.embed([region], samples)
        with self._lock:
            speakers = self._channels.setdefault(channel, _Speakers())
            if update or not len(speakers.sums):
                self._learn(speakers, embeddings)
            centres = speakers.centres()
        turns = speaker_turns([region], starts, embeddings, centres, MIN_TURN)
        ends = [turn.end for turn in turns]
        return tuple(_with_speaker(word, turn_for(word, turns, ends).speaker) for word in words)

    def _learn(self, speakers: _Speakers, embeddings: FloatArray) -> None:
        labels, local_centres = cluster(embeddings, self.options.threshold, SpeakerCount())
        for local, centre in enumerate(local_centres):
            stream_speaker = speakers.match(centre, self.options.threshold, self.options.speakers)
            speakers.sums[stream_speaker] += embeddings[labels == local].sum(axis=0)


def _with_speaker(word: Word, speaker: int) -> Word:
    return Word(word.text, word.start, word.end, word.confidence, speaker)
