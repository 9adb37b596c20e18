"""The edits made to whisper.cpp's source before whisper-api builds it: each passage exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_api.engine.source_edits import BINDING_EDITS, EDITS, Edit, apply_edits, digest
from whisper_api.errors import EngineError


def tree(tmp_path: Path, texts: dict[str, str]) -> Path:
    for path, text in texts.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return tmp_path


def _joined(parts: list[str]) -> str:
    return "head\n" + "middle\n".join(parts) + "tail\n"


@pytest.mark.parametrize("edits", [EDITS, BINDING_EDITS], ids=["whisper.cpp", "binding"])
def test_each_passage_is_replaced_where_it_stands(tmp_path: Path, edits: tuple[Edit, ...]) -> None:
    paths = dict.fromkeys(edit.path for edit in edits)
    source = tree(tmp_path, {path: _joined([e.before for e in edits if e.path == path]) for path in paths})
    apply_edits(source, edits)
    for path in paths:
        assert (source / path).read_text() == _joined([e.after for e in edits if e.path == path])


@pytest.mark.parametrize("text", ["nothing to change\n", "twice\ntwice\n"])
def test_a_source_without_the_passage_once_is_refused_unchanged(tmp_path: Path, text: str) -> None:
    source = tree(tmp_path, {"src/whisper.cpp": text})
    with pytest.raises(EngineError, match=r"occurs [02] times, not once"):
        apply_edits(source, (Edit("src/whisper.cpp", "twice", "once"),) if "twice" in text else EDITS)
    assert (source / "src" / "whisper.cpp").read_text() == text


def test_the_digest_names_the_edits() -> None:
    assert digest() == digest() and len(digest()) == 16
