"""Deepgram's pre-recorded response (``POST /v1/listen``), built from a Transcript.

Conventions copied from real Deepgram responses: ``word`` is always the plain lowercase form;
``punctuated_word`` appears only with punctuate or smart_format, and then the transcript is
punctuated too; times are seconds, confidences 0..1; one channel entry per audio channel with
multichannel. Pure functions: no I/O, no clock (the caller passes the metadata).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whisper_api.transcript import Transcript, Word
from whisper_api.wordforms import is_profane, mask, plain

SENTENCE_END = (".", "?", "!", "…")
PARAGRAPH_PAUSE = 1.5
"""Seconds of silence between sentences that start a new paragraph."""
PARAGRAPH_MAX_SENTENCES = 5


@dataclass(frozen=True)
class DeepgramOptions:
    punctuate: bool = False
    smart_format: bool = False
    utterances: bool = False
    utt_split: float = 0.8
    paragraphs: bool = False
    detect_language: bool = False
    profanity_filter: bool = False
    search: tuple[str, ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    """(find, replacement) pairs; find is one word, matched on its plain form."""
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def formatted(self) -> bool:
        return self.punctuate or self.smart_format


@dataclass(frozen=True)
class ResponseMeta:
    request_id: str
    sha256: str
    created: datetime
    model_uuid: str
    model_name: str
    model_version: str
    model_arch: str = "whisper"


@dataclass(frozen=True)
class _Word:
    """One word after the request's rewrites (replace, profanity), in both forms."""

    plain: str
    punctuated: str
    source: Word


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _rewrite(word: Word, options: DeepgramOptions) -> _Word:
    """Apply replace, then profanity masking, to both forms of a word."""
    text, base = word.text, plain(word.text)
    for find, replacement in options.replace:
        if base == plain(find):
            start = text.lower().find(base)
            text = text[:start] + replacement + text[start + len(base):] if start >= 0 else replacement
            base = plain(replacement) or replacement.lower()
            break
    if options.profanity_filter and is_profane(base):
        text, base = mask(text), mask(base)
    return _Word(base, text, word)


def _word_json(word: _Word, options: DeepgramOptions) -> dict[str, Any]:
    data: dict[str, Any] = {"word": word.plain, "start": word.source.start, "end": word.source.end,
                            "confidence": round(word.source.confidence, 6)}
    if options.formatted:
        data["punctuated_word"] = word.punctuated
    if word.source.speaker is not None:
        data["speaker"] = word.source.speaker
        if word.source.speaker_confidence is not None:
            data["speaker_confidence"] = word.source.speaker_confidence
    return data


def _text(words: list[_Word], options: DeepgramOptions) -> str:
    return " ".join(word.punctuated if options.formatted else word.plain for word in words)


def _confidence(words: list[_Word]) -> float:
    return round(sum(w.source.confidence for w in words) / len(words), 6) if words else 0.0


def _split_on_pauses(words: list[_Word], pause: float) -> list[list[_Word]]:
    """Groups of words with no pause of ``pause`` seconds or more, and one speaker each."""
    groups: list[list[_Word]] = []
    for word in words:
        last = groups[-1][-1].source if groups else None
        if last and word.source.start - last.end < pause and word.source.speaker == last.speaker:
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _speaker_runs(words: list[_Word]) -> list[list[_Word]]:
    """Consecutive words of one speaker (all the words, when the transcript is not diarized)."""
    return _split_on_pauses(words, float("inf"))


def _sentences(words: list[_Word]) -> list[list[_Word]]:
    sentences: list[list[_Word]] = [[]]
    for word in words:
        sentences[-1].append(word)
        if word.punctuated.endswith(SENTENCE_END):
            sentences.append([])
    return [sentence for sentence in sentences if sentence]


def _sentence_groups(words: list[_Word]) -> list[list[list[_Word]]]:
    """Sentences grouped by pauses, speaker changes and a few at most per paragraph."""
    groups: list[list[list[_Word]]] = []
    for run in _speaker_runs(words):
        start_of_run = True
        for sentence in _sentences(run):
            previous = groups[-1][-1][-1] if groups else None
            if (start_of_run or previous is None or sentence[0].source.start - previous.source.end >= PARAGRAPH_PAUSE
                    or len(groups[-1]) >= PARAGRAPH_MAX_SENTENCES):
                groups.append([sentence])
            else:
                groups[-1].append(sentence)
            start_of_run = False
    return groups


def _paragraphs(words: list[_Word]) -> dict[str, Any]:
    """Paragraphs of sentences, always punctuated; diarized ones name their speaker."""
    paragraphs, texts = [], []
    for group in _sentence_groups(words):
        sentence_texts = [" ".join(word.punctuated for word in sentence) for sentence in group]
        speaker = group[0][0].source.speaker
        texts.append(("" if speaker is None else f"Speaker {speaker}: ") + " ".join(sentence_texts))
        paragraph: dict[str, Any] = {
            "sentences": [{"text": text, "start": sentence[0].source.start, "end": sentence[-1].source.end}
                          for text, sentence in zip(sentence_texts, group, strict=True)],
            "num_words": sum(len(sentence) for sentence in group),
            "start": group[0][0].source.start, "end": group[-1][-1].source.end,
        }
        if speaker is not None:
            paragraph["speaker"] = speaker
        paragraphs.append(paragraph)
    return {"transcript": "\n" + "\n\n".join(texts) if texts else "", "paragraphs": paragraphs}


def _search(words: list[_Word], queries: tuple[str, ...]) -> list[dict[str, Any]]:
    """Exact matches of each query's words, in order, on what was said (before replace and masking)."""
    said = [plain(word.source.text) for word in words]
    results = []
    for query in queries:
        wanted = [plain(part) for part in query.split() if plain(part)]
        hits = []
        for start in range(len(words) - len(wanted) + 1) if wanted else ():
            if said[start:start + len(wanted)] == wanted:
                window = words[start:start + len(wanted)]
                hits.append({"confidence": 1.0, "start": window[0].source.start, "end": window[-1].source.end,
                             "snippet": " ".join(word.source.text for word in window)})
        results.append({"query": query, "hits": hits})
    return results


def _alternative(words: list[_Word], options: DeepgramOptions) -> dict[str, Any]:
    return {"transcript": _text(words, options), "confidence": _confidence(words),
            "words": [_word_json(word, options) for word in words]}


def alternative(words: Iterable[Word], options: DeepgramOptions) -> dict[str, Any]:
    """``transcript``, ``confidence`` and ``words`` of some words, after the request's rewrites."""
    return _alternative([_rewrite(word, options) for word in words], options)


def _channel(words: list[_Word], transcript: Transcript, options: DeepgramOptions) -> dict[str, Any]:
    alternative = _alternative(words, options)
    if options.paragraphs or options.smart_format:
        alternative["paragraphs"] = _paragraphs(words)
    channel: dict[str, Any] = {"alternatives": [alternative]}
    if options.search:
        channel["search"] = _search(words, options.search)
    if options.detect_language:
        channel["detected_language"] = transcript.language
        channel["language_confidence"] = round(transcript.language_confidence or 0.0, 6)
    return channel


def _utterances(per_channel: list[list[_Word]], options: DeepgramOptions) -> list[dict[str, Any]]:
    utterances = []
    for index, words in enumerate(per_channel):
        for group in _split_on_pauses(words, options.utt_split):
            utterance = {"start": group[0].source.start, "end": group[-1].source.end,
                         "confidence": _confidence(group), "channel": index, "transcript": _text(group, options),
                         "words": [_word_json(word, options) for word in group], "id": str(uuid.uuid4())}
            if group[0].source.speaker is not None:
                utterance["speaker"] = group[0].source.speaker
            utterances.append(utterance)
    utterances.sort(key=lambda utterance: (utterance["start"], utterance["channel"]))
    return utterances


def model_info(meta: ResponseMeta) -> dict[str, str]:
    return {"name": meta.model_name, "version": meta.model_version, "arch": meta.model_arch}


def metadata(meta: ResponseMeta, duration: float, channels: int) -> dict[str, Any]:
    """The metadata both APIs share: a pre-recorded response's, a stream's closing Metadata."""
    return {
        "transaction_key": "deprecated",
        "request_id": meta.request_id,
        "sha256": meta.sha256,
        "created": rfc3339(meta.created),
        "duration": duration,
        "channels": channels,
        "models": [meta.model_uuid],
        "model_info": {meta.model_uuid: model_info(meta)},
    }


def _metadata(transcript: Transcript, options: DeepgramOptions, meta: ResponseMeta) -> dict[str, Any]:
    fields: dict[str, Any] = metadata(meta, transcript.duration, transcript.channels)
    if options.tags:
        fields["tags"] = list(options.tags)
    if options.extra:
        fields["extra"] = dict(options.extra)
    return fields


def to_deepgram(transcript: Transcript, options: DeepgramOptions, meta: ResponseMeta) -> dict[str, Any]:
    """The full ``POST /v1/listen`` 200 body."""
    channels = range(transcript.channels) if transcript.channels > 1 else [None]
    per_channel = [[_rewrite(word, options) for word in transcript.words(channel)] for channel in channels]
    results: dict[str, Any] = {"channels": [_channel(words, transcript, options) for words in per_channel]}
    if options.utterances:
        results["utterances"] = _utterances(per_channel, options)
    return {"metadata": _metadata(transcript, options, meta), "results": results}
