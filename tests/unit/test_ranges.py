"""Each option's range is declared once (options.RANGES) and every door refuses the same values."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner

from whisper_api.cli.app import app
from whisper_api.errors import InvalidOptionError
from whisper_api.options import RANGES, TranscribeOptions


@pytest.mark.parametrize(("name", "value"), [("no_speech_threshold", 1.5), ("logprob_threshold", 0.5),
                                             ("entropy_threshold", -1.0), ("temperature", 2.0)])
def test_python_callers_get_the_range_in_the_error(name: str, value: float) -> None:
    with pytest.raises(InvalidOptionError, match=RANGES[name].wanted):
        TranscribeOptions(**{name: value})  # type: ignore[arg-type]


def test_the_rest_api_refuses_what_the_range_refuses(client: TestClient, keys: dict[str, str]) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/listen?no_speech_threshold=1.5", content=b"RIFF",
                           headers={"Authorization": f"Token {keys['listen']}"})
    assert response.status_code == 400 and RANGES["no_speech_threshold"].wanted in response.json()["err_msg"]


def test_the_cli_refuses_what_the_range_refuses() -> None:
    result = CliRunner().invoke(app, ["transcribe", "x.wav", "--no-speech-threshold", "1.5"])
    flat = "".join(char for char in result.output if char.isalnum() or char == "-")
    assert result.exit_code == 2 and "no-speech-threshold" in flat and "lessthanorequalto1" in flat
