"""Decoding: containers, channels, streams and every kind of bad input."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import convert, ffmpeg, tone, write_wav
from whisper_api.audio import SAMPLE_RATE, DecodedAudio, decode_file, decode_stream, plain_wav
from whisper_api.errors import AudioDecodeError, AudioTooLongError


@pytest.fixture(scope="module")
def stereo_44k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s at 44.1 kHz: a 440 Hz tone left, silence right."""
    left = tone(2.0, 440, rate=44100)
    return write_wav(tmp_path_factory.mktemp("audio") / "stereo.wav", [left, np.zeros_like(left)], rate=44100)


@pytest.mark.parametrize("extension", ["mp3", "flac", "ogg", "opus", "webm", "m4a"])
def test_common_containers_decode_to_16k_mono(stereo_44k: Path, tmp_path: Path, extension: str) -> None:
    encoded = convert(stereo_44k, tmp_path / f"clip.{extension}")
    audio = decode_file(encoded)
    assert audio.channels == 1
    assert audio.samples.dtype == np.float32
    assert abs(audio.duration - 2.0) < 0.1


def test_video_files_give_their_audio(stereo_44k: Path, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    convert(stereo_44k, video, "-f", "lavfi", "-i", "color=c=black:s=64x64:d=2", "-shortest")
    assert abs(decode_file(video).duration - 2.0) < 0.1


def test_channels_can_be_kept_apart(stereo_44k: Path) -> None:
    audio = decode_file(stereo_44k, mono=False)
    assert audio.channels == 2
    assert np.abs(audio.channel(0)).max() > 0.2
    assert np.abs(audio.channel(1)).max() < 1e-3
    assert audio.channel(0).flags["C_CONTIGUOUS"]


def test_streams_are_spooled_and_decoded(stereo_44k: Path) -> None:
    audio = decode_stream(io.BytesIO(stereo_44k.read_bytes()), name="<stdin>")
    assert audio.source == "<stdin>"
    assert abs(audio.duration - 2.0) < 0.01


def test_arrays_are_wrapped_without_decoding() -> None:
    audio = DecodedAudio.from_array(np.zeros(SAMPLE_RATE, np.float32))
    assert (audio.channels, audio.duration) == (1, 1.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"this is not audio at all\n" * 50, "not a decodable audio or video file"),
        (bytes(range(256)) * 40, "not a decodable audio or video file"),
    ],
)
def test_bad_files_name_the_file_and_say_what_is_wrong(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=message) as caught:
        decode_file(bad)
    assert str(bad) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="no such file"):
        decode_file(tmp_path / "nope.wav")


def test_header_only_wav_has_no_audio(stereo_44k: Path, tmp_path: Path) -> None:
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(stereo_44k.read_bytes()[:44])
    with pytest.raises(AudioDecodeError, match=r"header\.wav"):
        decode_file(header_only)


def test_video_without_audio_says_so(tmp_path: Path) -> None:
    video = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:d=1", str(video))
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_file(video)


def test_truncated_audio_decodes_what_is_there_with_a_warning(stereo_44k: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(stereo_44k.read_bytes()[:30001])
    audio = decode_file(truncated)
    assert 0 < audio.duration < 2.0
    assert audio.warnings
    assert "cut.wav" in audio.warnings[0]


def test_names_that_look_like_protocols_are_read_as_files(stereo_44k: Path, tmp_path: Path) -> None:
    odd = tmp_path / "http:"
    odd.mkdir()
    target = odd / "clip.wav"
    target.write_bytes(stereo_44k.read_bytes())
    assert decode_file(target).duration > 1.9


def test_without_ffmpeg_on_path_the_bundled_one_decodes(stereo_44k: Path, tmp_path: Path) -> None:
    """A pip-only install (no system ffmpeg) still decodes, with the imageio-ffmpeg binary."""
    mp3 = convert(stereo_44k, tmp_path / "clip.mp3")
    script = ("from whisper_api.audio import decode_file, find_ffmpeg; from pathlib import Path; "
              f"print(find_ffmpeg()); print(decode_file(Path({str(mp3)!r})).duration)")
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PATH": str(tmp_path)},
                            capture_output=True, text=True, check=True)
    ffmpeg_path, duration = result.stdout.split()
    assert "imageio_ffmpeg" in ffmpeg_path
    assert abs(float(duration) - 2.0) < 0.1


def test_long_recordings_are_read_from_disk_a_span_at_a_time(tmp_path: Path) -> None:
    """Decoding 30 minutes holds none of the samples in memory; reading them all holds one copy (115 MB)."""
    flac = tmp_path / "long.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=1800", "-ac", "1", str(flac))
    script = (
        "import resource, sys; from pathlib import Path; from whisper_api.audio import decode_file\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "before = peak()\n"
        f"audio = decode_file(Path({str(flac)!r}))\n"
        "track = audio.track()\n"
        "spans = sum(track[start:start + 960000].size for start in range(0, len(track), 960000))\n"
        "decoded = peak()\n"
        "print(spans, decoded - before, audio.samples.nbytes, peak() - before)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    spans, decoding_growth, whole_bytes, reading_growth = map(int, result.stdout.split())
    assert spans == whole_bytes // 4 == 1800 * SAMPLE_RATE
    assert decoding_growth < 0.1 * whole_bytes  # a minute at a time: 3.8 MB
    assert reading_growth < 1.3 * whole_bytes


def test_tracks_read_spans_of_one_channel_or_the_mix(stereo_44k: Path) -> None:
    audio = decode_file(stereo_44k, mono=False)
    memory = DecodedAudio.from_array(audio.samples)
    for channel in (0, 1, None):
        whole = audio.channel(channel) if channel is not None else audio.mono()
        np.testing.assert_array_equal(audio.track(channel)[100:5000], whole[100:5000])
        np.testing.assert_array_equal(memory.track(channel)[-300:], whole[-300:])
    assert len(audio.track()) == audio.frames and audio.track()[audio.frames:].size == 0


def test_a_length_limit_stops_decoding_early(tmp_path: Path) -> None:
    flac = tmp_path / "long.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=1800", "-ac", "1", str(flac))
    with pytest.raises(AudioTooLongError, match="longer than 60 seconds"):
        decode_file(flac, max_seconds=60)
    assert decode_file(flac, max_seconds=3600).duration == 1800.0


# WAVs at 16 kHz in 16-bit PCM or 32-bit float are read as they are, without starting ffmpeg.

def _float_wav(path: Path, frames: np.ndarray, extensible: bool = False) -> Path:
    """Write (frames, channels) float32 as an IEEE-float WAV, optionally in the extensible layout."""
    channels = frames.shape[1]
    data = frames.astype("<f4").tobytes()
    basic = struct.pack("<HHIIHH", 0xFFFE if extensible else 3, channels, SAMPLE_RATE, SAMPLE_RATE * 4 * channels,
                        4 * channels, 32)
    float_guid = bytes.fromhex("0300000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
    fmt = basic + struct.pack("<HHI", 22, 32, (1 << channels) - 1) + float_guid if extensible else basic
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt "
                     + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


def _through_ffmpeg(path: Path, mono: bool) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), *(["-ac", "1"] if mono else []),
                          "-ar", str(SAMPLE_RATE), "-c:a", "pcm_f32le", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<f4").reshape(-1, 1 if mono else 2)


@pytest.mark.parametrize("layout", ["pcm16 mono", "pcm16 stereo", "float mono", "float extensible stereo"])
def test_plain_wavs_decode_as_ffmpeg_decodes_them_without_it(tmp_path: Path, layout: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    signal = tone(1.5, 330)
    frames = np.stack([signal, 0.5 * signal[::-1]], axis=1) if "stereo" in layout else signal[:, None]
    path = (write_wav(tmp_path / "clip.wav", list(frames.T)) if "pcm16" in layout
            else _float_wav(tmp_path / "clip.wav", frames, extensible="extensible" in layout))
    mono = "mono" in layout
    expected = _through_ffmpeg(path, mono)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("ffmpeg was started"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ffmpeg was started"))
    audio = decode_file(path, mono=mono)
    assert not audio.warnings
    np.testing.assert_array_equal(audio.samples, expected)  # the same numbers, bit for bit
    np.testing.assert_array_equal(audio.track(0)[1000:2000], expected[1000:2000, 0])


def test_a_plain_wav_ends_at_its_data_chunk_and_says_when_it_is_cut(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "clip.wav", [tone(1.0, 440)])
    whole = path.read_bytes()
    tagged = tmp_path / "tagged.wav"
    tagged.write_bytes(whole + b"LIST" + struct.pack("<I", 4) + b"INFO")  # metadata after the samples
    assert decode_file(tagged).frames == SAMPLE_RATE and not decode_file(tagged).warnings
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[:44 + 2 * 4000 + 1])
    audio = decode_file(cut)
    assert audio.frames == 4000 and "cut.wav: decoded with errors" in audio.warnings[0]
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(whole[:44])
    with pytest.raises(AudioDecodeError, match=r"header\.wav: no audio could be decoded"):
        decode_file(header_only)
    with pytest.raises(AudioTooLongError, match=r"longer than 0\.5 seconds"):
        decode_file(path, max_seconds=0.5)


def test_other_wavs_still_go_through_ffmpeg(stereo_44k: Path, tmp_path: Path) -> None:
    """Another rate, or channels to mix: ffmpeg resamples and mixes, as before."""
    mixed_down = write_wav(tmp_path / "stereo16k.wav", [tone(1.0, 440), np.zeros(SAMPLE_RATE)])
    for path in (stereo_44k, mixed_down):
        np.testing.assert_array_equal(decode_file(path).samples, _through_ffmpeg(path, mono=True))


def test_odd_wav_headers_are_left_to_ffmpeg(tmp_path: Path) -> None:
    """A header this reader would have to trust too far (a huge format chunk, thousands of chunks before
    the samples, many channels) goes to ffmpeg, which decodes or refuses it as before."""
    samples = write_wav(tmp_path / "clip.wav", [tone(0.5, 440)]).read_bytes()
    huge_fmt = samples[:16] + struct.pack("<I", 0x7FFFFFF0) + samples[20:]
    many = samples[:12] + (b"junk" + struct.pack("<I", 0)) * 5000 + samples[12:]
    for name, content in (("huge-fmt.wav", huge_fmt), ("many-chunks.wav", many)):
        (tmp_path / name).write_bytes(content)
        assert plain_wav(tmp_path / name, mono=True) is None
    nine = write_wav(tmp_path / "nine.wav", [tone(0.1, 440)] * 9)  # more channels than a recorder writes
    assert plain_wav(nine, mono=False) is None and decode_file(nine, mono=False).channels == 9
    assert plain_wav(tmp_path / "clip.wav", mono=True) is not None
    assert decode_file(tmp_path / "many-chunks.wav").frames == 8000
