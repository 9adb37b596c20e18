"""The decoder, on its own: nothing but the bytes it is given, and no amplification."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.corpus import canary, playlists, wav_declaring
from tests.support.audio_files import convert, tone, write_wav
from whisper_api.audio import RawFormat, decode_file
from whisper_api.errors import AudioDecodeError, AudioTooLongError


@pytest.mark.parametrize("kind", list(playlists(Path("canary.m4a"))))
def test_a_playlist_is_refused_and_its_target_never_read(tmp_path: Path, kind: str) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(playlists(canary(tmp_path))[kind])
    with pytest.raises(AudioDecodeError) as refused:
        decode_file(upload, name="the upload")
    assert "the upload" in str(refused.value)


def test_the_refusal_says_what_was_sent(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(playlists(canary(tmp_path))["dash"])
    with pytest.raises(AudioDecodeError, match="dash input refers to other files and is not accepted"):
        decode_file(upload)


@pytest.mark.parametrize("suffix", ["m4a", "webm", "ogg", "flac", "mp3", "mkv", "aiff"])
def test_ordinary_containers_still_decode(tmp_path: Path, suffix: str) -> None:
    source = write_wav(tmp_path / "tone.wav", [tone(1.5)])
    decoded = decode_file(convert(source, tmp_path / f"tone.{suffix}"))
    assert decoded.duration == pytest.approx(1.5, abs=0.1)


def test_a_header_claiming_hours_from_a_few_bytes_is_refused_before_decoding(tmp_path: Path) -> None:
    upload = tmp_path / "amplified.wav"
    upload.write_bytes(wav_declaring(1, 36_000))
    with pytest.raises(AudioDecodeError, match="sample rate of 1 Hz"):
        decode_file(upload, max_seconds=36_000)


def test_headerless_audio_at_an_absurd_rate_is_refused(tmp_path: Path) -> None:
    upload = tmp_path / "raw"
    upload.write_bytes(bytes(2048))
    with pytest.raises(AudioDecodeError, match="sample rate of 1 Hz"):
        decode_file(upload, raw=RawFormat("s16le", 1))


def test_a_declared_length_over_the_limit_is_refused_from_the_header(tmp_path: Path) -> None:
    upload = tmp_path / "long.wav"
    upload.write_bytes(wav_declaring(2000, 130_000))  # 65 s at the lowest accepted rate
    with pytest.raises(AudioTooLongError, match="longer than 60 seconds"):
        decode_file(upload, max_seconds=60)


def test_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="is a folder"):
        decode_file(tmp_path)
