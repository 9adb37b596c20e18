"""Speakers of a live stream, consistent from its first utterance to its last.

The stream keeps the window embeddings of its finals (the most recent HISTORY_WINDOWS of them)
with the speaker each was given. Every new final is clustered together with that history, by
the same clustering as whole recordings, so a voice is judged against everything heard so far,
not against one short utterance. The new clusters are then matched to the stream's speakers by
the history windows they share: a cluster that is mostly speaker 2's old windows is speaker 2;
a cluster of new windows only is a new speaker. The history takes the new labels, so the
numbers stay stable while the clusters themselves may still improve.
Interim results are labelled against the current speakers' centroids without changing anything:
their audio comes back in the final.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.diarize.arrays import IntArray
from whisper_api.diarize.assign import turn_for
from whisper_api.diarize.clustering import centroids, cluster
from whisper_api.diarize.diarizer import Diarizer
from whisper_api.diarize.encoder import EMBEDDING_SIZE
from whisper_api.diarize.pipeline import MIN_TURN
from whisper_api.diarize.turns import speaker_turns
from whisper_api.diarize.windows import HOP_SECONDS
from whisper_api.options import DiarizeOptions, SpeakerCount
from whisper_api.transcript import Word
from whisper_api.vad.regions import Region

HISTORY_WINDOWS = 800
"""About 10 minutes of speech: enough to know the voices, small enough to cluster on every final
(a few hundredths of a second)."""


class _History:
    """One channel's windows so far and the stream speaker of each."""

    def __init__(self) -> None:
        self.embeddings = np.zeros((0, EMBEDDING_SIZE), np.float32)
        self.speakers = np.zeros(0, np.int64)
        self.next_speaker = 0

    def centres(self) -> FloatArray:
        present = np.unique(self.speakers)
        sums = centroids(self.embeddings, np.searchsorted(present, self.speakers), len(present))
        full = np.zeros((self.next_speaker, self.embeddings.shape[1]), np.float32)
        full[present] = sums  # indexed by stream speaker; a speaker gone from the history stays zero
        return full

    def _matched(self, labels: IntArray) -> IntArray:
        """Stream speakers for the clusters ``labels`` of history + new windows."""
        old = labels[:len(self.speakers)]
        mapping: dict[int, int] = {}
        clusters = np.unique(labels)
        votes = [(int(np.count_nonzero((old == c) & (self.speakers == s))), int(c), int(s))
                 for c in clusters for s in np.unique(self.speakers)]
        for count, label, speaker in sorted(votes, reverse=True):  # the largest overlaps decide first
            if count and label not in mapping and speaker not in mapping.values():
                mapping[label] = speaker
        for label in clusters.tolist():
            if label not in mapping:
                mapping[label] = self.next_speaker
                self.next_speaker += 1
        return np.array([mapping[int(label)] for label in labels], np.int64)

    def learn(self, embeddings: FloatArray, options: DiarizeOptions) -> IntArray:
        """Cluster history + ``embeddings``; returns the stream speakers of the new windows."""
        together = np.vstack([self.embeddings, embeddings])
        labels, _ = cluster(together, options.speakers, HOP_SECONDS)
        speakers = self._matched(labels)
        keep = max(0, len(together) - HISTORY_WINDOWS)
        self.embeddings, self.speakers = together[keep:], speakers[keep:]
        return speakers[len(speakers) - len(embeddings):]


class SpeakerTracker:
    def __init__(self, options: DiarizeOptions) -> None:
        # An exact count is a cap here: a stream's first utterances usually hold fewer voices.
        count = options.speakers
        self.options = dataclasses.replace(
            options, speakers=SpeakerCount(maximum=count.exact or count.maximum) if count.exact else count)
        self._channels: dict[int, _History] = {}
        self._lock = threading.Lock()

    def label(self, diarizer: Diarizer, channel: int, samples: FloatArray, words: Sequence[Word],
              update: bool = True) -> tuple[Word, ...]:
        """``words`` timed from ``samples[0]``, each with its stream speaker."""
        if not words:
            return tuple(words)
        if self.options.mode == "channel":
            return tuple(_with_speaker(word, channel) for word in words)
        with self._lock:
            history = self._channels.setdefault(channel, _History())
            if not update and not len(history.speakers):
                return tuple(_with_speaker(word, 0) for word in words)  # no voice known before the first final
        region = Region(0.0, len(samples) / SAMPLE_RATE)
        starts, embeddings = diarizer.embed([region], samples)
        with self._lock:
            if update:
                speakers = history.learn(embeddings, self.options)
                centres = centroids(embeddings, speakers, history.next_speaker)
            else:
                centres = history.centres()
        # Windows score against the speakers present in this final (learned) or all (interims).
        turns = speaker_turns([region], starts, embeddings, centres, MIN_TURN)
        ends = [turn.end for turn in turns]
        return tuple(_with_speaker(word, turn_for(word, turns, ends).speaker) for word in words)


def _with_speaker(word: Word, speaker: int) -> Word:
    return Word(word.text, word.start, word.end, word.confidence, speaker)
