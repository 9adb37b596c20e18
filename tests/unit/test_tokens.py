"""Tokens become words the way whisper's BPE spells them."""

from __future__ import annotations

from whisper_api.engine.tokens import Token, merge_words, spread_evenly


def tokens(*pieces: tuple[bytes, float, float]) -> list[Token]:
    return [Token(text, start, end, 0.5) for text, start, end in pieces]


def test_leading_space_starts_a_word_and_pieces_continue_it() -> None:
    words = merge_words(tokens((b" Hel", 0.0, 0.2), (b"lo", 0.2, 0.4), (b" world", 0.5, 0.9)), 0.0, 1.0)
    assert [(w.text, w.start, w.end) for w in words] == [("Hello", 0.0, 0.4), ("world", 0.5, 0.9)]


def test_punctuation_attaches_to_the_word_before() -> None:
    words = merge_words(tokens((b" Yes", 0, 0.3), (b",", 0.3, 0.35), (b" no", 0.4, 0.6), (b" .", 0.6, 0.7)), 0, 1)
    assert [w.text for w in words] == ["Yes,", "no."]
    assert words[1].end == 0.7


def test_leading_punctuation_joins_the_next_word() -> None:
    words = merge_words(tokens((b' "', 0.0, 0.1), (b" Hi", 0.1, 0.3)), 0.0, 1.0)
    assert [w.text for w in words] == ['"Hi']
    assert words[0].start == 0.0


def test_multibyte_characters_split_over_tokens_are_reassembled() -> None:
    cafe = "café".encode()
    words = merge_words(tokens((b" " + cafe[:4], 0, 0.2), (cafe[4:], 0.2, 0.3)), 0, 1)
    assert words[0].text == "café"


def test_invalid_bytes_become_replacement_characters_not_errors() -> None:
    assert merge_words(tokens((b" \xff", 0, 0.1)), 0, 1)[0].text == "\ufffd"


def test_times_are_clamped_into_the_segment_and_never_go_backwards() -> None:
    words = merge_words(tokens((b" a", -1.0, 0.5), (b" b", 0.2, 9.0), (b" c", 0.1, 0.1)), 0.0, 2.0)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= 2.0 for w in words)


def test_word_confidence_is_the_mean_of_its_tokens() -> None:
    pieces = [Token(b" ab", 0, 0.1, 0.2), Token(b"cd", 0.1, 0.2, 0.6)]
    assert abs(merge_words(pieces, 0, 1)[0].confidence - 0.4) < 1e-9


def test_whitespace_only_tokens_make_no_words() -> None:
    assert merge_words(tokens((b" ", 0, 0.1), (b" hi", 0.1, 0.2)), 0, 1)[0].text == "hi"


def test_spread_evenly_shares_the_segment_by_length() -> None:
    spread = spread_evenly(tokens((b" ab", 0, 0), (b" abcdef", 0, 0)), 1.0, 4.0)
    assert spread[0].start == 1.0
    assert abs(spread[0].end - 1.9) < 1e-9  # 3 of the 10 bytes
    assert abs(spread[1].end - 4.0) < 1e-9
