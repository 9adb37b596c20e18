"""Formatters are pure functions of a transcript: checked on hand-made transcripts."""

from __future__ import annotations

import io
import itertools
import json

import srt
import webvtt

from whisper_api.formats import FORMATTERS, to_json, to_srt, to_text, to_vtt
from whisper_api.formats.captions import MAX_DURATION, MAX_LINE, build_cues
from whisper_api.transcript import Segment, Transcript, Word


def transcript_of(*words: tuple[str, float, float], channel: int = 0, channels: int = 1) -> Transcript:
    segment = Segment(words[0][1], words[-1][2], tuple(Word(t, s, e, 0.9) for t, s, e in words), channel)
    return Transcript((segment,), duration=words[-1][2] + 1, language="en", channels=channels)


def even_words(text: str, start: float = 0.0, step: float = 0.3) -> list[tuple[str, float, float]]:
    return [(word, start + i * step, start + i * step + step * 0.8) for i, word in enumerate(text.split())]


LONG = ("the quick brown fox jumps over the lazy dog while the farmer watches from the porch and "
        "wonders why foxes always jump over dogs in typing exercises instead of doing something useful")


def test_srt_parses_and_keeps_word_times() -> None:
    parsed = list(srt.parse(to_srt(transcript_of(("Hello,", 0.5, 0.9), ("world.", 1.0, 1.4)))))
    assert len(parsed) == 1
    assert parsed[0].content == "Hello, world."
    assert parsed[0].start.total_seconds() == 0.5
    assert parsed[0].end.total_seconds() == 1.4


def test_vtt_parses_with_webvtt_py() -> None:
    captions = webvtt.from_buffer(io.StringIO(to_vtt(transcript_of(*even_words(LONG))))).captions
    assert captions
    assert captions[0].start == "00:00:00.000"
    assert " ".join(c.text.replace("\n", " ") for c in captions) == LONG


def test_cues_hold_two_lines_of_42_characters_and_7_seconds_at_most() -> None:
    cues = build_cues(transcript_of(*even_words(LONG * 3, step=0.25)))
    assert len(cues) > 3
    for cue in cues:
        assert len(cue.lines) <= 2
        assert all(len(line) <= MAX_LINE for line in cue.lines)
        assert cue.end - cue.start <= MAX_DURATION + 1e-9
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))


def test_cues_break_at_sentence_ends_and_pauses() -> None:
    words = [("One", 0.0, 0.3), ("thing.", 0.3, 0.6), ("Another", 0.7, 1.0), ("one", 1.0, 1.2),
             ("after", 3.0, 3.3), ("a", 3.3, 3.4), ("pause", 3.4, 3.8)]
    assert [cue.text for cue in build_cues(transcript_of(*words))] == ["One thing.", "Another one", "after a pause"]


def test_two_line_cues_are_balanced() -> None:
    cue = build_cues(transcript_of(*even_words("aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk")))[0]
    assert len(cue.lines) == 2
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 5


def test_a_word_longer_than_a_line_still_gets_a_cue() -> None:
    cues = build_cues(transcript_of(("x" * 100, 0.0, 1.0)))
    assert cues[0].text == "x" * 100


def test_empty_transcript_gives_valid_empty_outputs() -> None:
    empty = Transcript((), duration=1.0, language="en")
    assert to_srt(empty) == ""
    assert to_vtt(empty).startswith("WEBVTT")
    assert to_text(empty) == ""
    assert json.loads(to_json(empty))["segments"] == []


def test_json_carries_segments_words_and_metadata() -> None:
    data = json.loads(to_json(transcript_of(("Hi", 0.1, 0.4), ("there.", 0.5, 0.9))))
    assert data["text"] == "Hi there."
    assert data["language"] == "en"
    assert data["segments"][0]["words"][1] == {"word": "there.", "start": 0.5, "end": 0.9, "confidence": 0.9}


def test_text_is_one_line_per_segment() -> None:
    first = Segment(0, 1, (Word("Hello.", 0, 1, 1.0),))
    second = Segment(2, 3, (Word("Bye.", 2, 3, 1.0),))
    assert to_text(Transcript((first, second), 3.0, "en")) == "Hello.\nBye.\n"


def test_multichannel_cues_come_from_each_channel_in_time_order() -> None:
    left = Segment(0.0, 1.0, (Word("left.", 0.0, 1.0, 1.0),), channel=0)
    right = Segment(0.5, 1.5, (Word("right.", 0.5, 1.5, 1.0),), channel=1)
    cues = build_cues(Transcript((left, right), 2.0, "en", channels=2))
    assert [cue.text for cue in cues] == ["left.", "right."]


def test_every_format_is_registered_by_its_extension() -> None:
    assert set(FORMATTERS) == {"txt", "json", "srt", "vtt"}
