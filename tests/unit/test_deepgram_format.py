"""The Deepgram response, built from hand-made transcripts (pure formatting)."""

from __future__ import annotations

from datetime import datetime, timezone

from whisper_api.formats.deepgram import DeepgramOptions, ResponseMeta, rfc3339, to_deepgram
from whisper_api.transcript import Segment, Transcript, Word
from whisper_api.wordforms import mask, plain

META = ResponseMeta("rid", "ab" * 32, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "uuid-1",
                    "base.en", "v1")


def transcript(*words: tuple[str, float, float], channel: int = 0, channels: int = 1,
               extra: tuple[Segment, ...] = ()) -> Transcript:
    segment = Segment(words[0][1], words[-1][2], tuple(Word(t, s, e, 0.5) for t, s, e in words), channel)
    return Transcript((segment, *extra), duration=20.0, language="en", language_confidence=0.97, channels=channels)


HELLO = transcript(("Hello,", 0.0, 0.4), ("world.", 0.5, 0.9), ("Damn", 3.0, 3.3), ("it's", 3.3, 3.5),
                   ("2026!", 3.5, 4.0))


def alternative(body: dict) -> dict:  # type: ignore[type-arg]
    return body["results"]["channels"][0]["alternatives"][0]  # type: ignore[no-any-return]


def test_metadata_has_every_required_field() -> None:
    metadata = to_deepgram(HELLO, DeepgramOptions(tags=("a", "b"), extra={"k": "v"}), META)["metadata"]
    assert metadata == {
        "transaction_key": "deprecated", "request_id": "rid", "sha256": "ab" * 32,
        "created": "2026-01-02T03:04:05.678Z", "duration": 20.0, "channels": 1, "models": ["uuid-1"],
        "model_info": {"uuid-1": {"name": "base.en", "version": "v1", "arch": "whisper"}},
        "tags": ["a", "b"], "extra": {"k": "v"},
    }
    assert rfc3339(META.created) == "2026-01-02T03:04:05.678Z"


def test_raw_output_is_lowercase_without_punctuation() -> None:
    alt = alternative(to_deepgram(HELLO, DeepgramOptions(), META))
    assert alt["transcript"] == "hello world damn it's 2026"
    assert alt["words"][0] == {"word": "hello", "start": 0.0, "end": 0.4, "confidence": 0.5}
    assert alt["confidence"] == 0.5


def test_punctuate_fills_punctuated_word_and_the_transcript() -> None:
    for options in (DeepgramOptions(punctuate=True), DeepgramOptions(smart_format=True)):
        alt = alternative(to_deepgram(HELLO, options, META))
        assert alt["transcript"] == "Hello, world. Damn it's 2026!"
        assert alt["words"][1]["punctuated_word"] == "world."
        assert alt["words"][1]["word"] == "world"


def test_utterances_split_on_pauses() -> None:
    body = to_deepgram(HELLO, DeepgramOptions(utterances=True, punctuate=True), META)
    assert [u["transcript"] for u in body["results"]["utterances"]] == ["Hello, world.", "Damn it's 2026!"]
    assert body["results"]["utterances"][0]["channel"] == 0 and body["results"]["utterances"][0]["id"]
    short_split = to_deepgram(HELLO, DeepgramOptions(utterances=True, utt_split=0.05), META)
    assert len(short_split["results"]["utterances"]) == 3


def test_paragraphs_group_sentences_and_smart_format_adds_them() -> None:
    paragraphs = alternative(to_deepgram(HELLO, DeepgramOptions(paragraphs=True), META))["paragraphs"]
    assert paragraphs["transcript"] == "\nHello, world.\n\nDamn it's 2026!"
    assert [p["num_words"] for p in paragraphs["paragraphs"]] == [2, 3]
    assert paragraphs["paragraphs"][0]["sentences"] == [{"text": "Hello, world.", "start": 0.0, "end": 0.9}]
    assert "paragraphs" in alternative(to_deepgram(HELLO, DeepgramOptions(smart_format=True), META))


def test_search_replace_and_profanity() -> None:
    body = to_deepgram(HELLO, DeepgramOptions(punctuate=True, search=("hello world", "nothing"),
                                              replace=(("world", "planet"),), profanity_filter=True), META)
    channel = body["results"]["channels"][0]
    assert channel["search"][0] == {"query": "hello world", "hits": [
        {"confidence": 1.0, "start": 0.0, "end": 0.9, "snippet": "Hello, world."}]}
    assert channel["search"][1]["hits"] == []
    assert channel["alternatives"][0]["transcript"] == "Hello, planet. D*** it's 2026!"
    assert channel["alternatives"][0]["words"][1]["word"] == "planet"
    assert channel["alternatives"][0]["words"][2]["word"] == "d***"


def test_detect_language_adds_language_and_confidence() -> None:
    channel = to_deepgram(HELLO, DeepgramOptions(detect_language=True), META)["results"]["channels"][0]
    assert (channel["detected_language"], channel["language_confidence"]) == ("en", 0.97)


def test_multichannel_gives_one_entry_per_channel() -> None:
    right = Segment(1.0, 2.0, (Word("right", 1.0, 2.0, 0.9),), channel=1)
    body = to_deepgram(transcript(("left", 0.0, 1.0), channels=2, extra=(right,)),
                       DeepgramOptions(utterances=True), META)
    assert [alternative({"results": {"channels": [c]}})["transcript"] for c in body["results"]["channels"]] == [
        "left", "right"]
    assert [u["channel"] for u in body["results"]["utterances"]] == [0, 1]
    assert body["metadata"]["channels"] == 2


def test_empty_transcript_still_has_the_shape() -> None:
    body = to_deepgram(Transcript((), 1.0, "en"), DeepgramOptions(utterances=True, paragraphs=True), META)
    alt = alternative(body)
    assert (alt["transcript"], alt["words"], alt["confidence"]) == ("", [], 0.0)
    assert body["results"]["utterances"] == []


def test_word_forms() -> None:
    assert [plain(w) for w in ("Hello,", "don't", "U.S.", "—", "2026!")] == ["hello", "don't", "u.s", "", "2026"]
    assert mask("Shit!") == "S***!"
