"""What a plain install (no extras) says when a feature needs one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from whisper_api.core import Transcriber
from whisper_api.errors import InvalidOptionError, SettingsError
from whisper_api.server.limits import KeyLimiter


def test_diarization_without_scipy_names_the_extra(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in [name for name in sys.modules if name.startswith(("whisper_api.diarize.", "scipy."))]:
        monkeypatch.delitem(sys.modules, name)  # an import of scipy.x finds a loaded scipy.x without scipy
    monkeypatch.setitem(sys.modules, "scipy", None)  # as if it were not installed
    with pytest.raises(InvalidOptionError, match=r"pip install 'whisper-api\[diarize\]'"):
        _ = Transcriber().diarizer


def test_redis_rate_limits_without_coredis_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "coredis", None)
    with pytest.raises(SettingsError, match=r"pip install 'whisper-api\[redis\]'"):
        KeyLimiter("redis://127.0.0.1:6379", None, 4)
