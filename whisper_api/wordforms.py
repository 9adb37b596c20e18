"""Word forms: the plain form of a word (lowercase, no surrounding punctuation) and masking."""

from __future__ import annotations

# A short list of common English profanities, masked by profanity_filter. Matching is on the
# plain form, so "Damn," is masked too.
PROFANITY = frozenset((
    "arse", "arsehole", "ass", "asshole", "bastard", "bitch", "bitches", "bollocks", "bullshit", "cock", "crap",
    "cunt", "damn", "dick", "dickhead", "fuck", "fucked", "fucker", "fucking", "goddamn", "motherfucker", "piss",
    "pissed", "prick", "shit", "shitty", "slut", "twat", "wanker", "whore",
))


def plain(word: str) -> str:
    """``"Hello,"`` -> ``"hello"``: punctuation around a word goes, inside it stays (``don't``)."""
    start, end = 0, len(word)
    while start < end and not word[start].isalnum():
        start += 1
    while end > start and not word[end - 1].isalnum():
        end -= 1
    return word[start:end].lower()


def is_profane(word: str) -> bool:
    return plain(word) in PROFANITY


def mask(word: str) -> str:
    """Keep the first letter and any punctuation: ``"Shit!"`` -> ``"S***!"``."""
    core = plain(word)
    at = word.lower().find(core)
    if not core or at < 0:
        return word
    return word[:at] + word[at] + "*" * (len(core) - 1) + word[at + len(core):]
