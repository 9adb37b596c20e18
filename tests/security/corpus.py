"""Hostile inputs: media that names other files, headers that declare absurd amounts of audio.

Every playlist here points at a canary file, a real audio file the server must never read for a
request: a server that followed one would answer 200 with the canary's length, a server that
refuses answers 400.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.support.audio_files import convert, tone, write_wav

CANARY_SECONDS = 7.25


def canary(folder: Path) -> Path:
    """A file a playlist may name: AAC in MP4, which DASH segments are (ffmpeg followed such a manifest)."""
    return convert(write_wav(folder / "canary.wav", [tone(CANARY_SECONDS, 330.0)]), folder / "canary.m4a")


def playlists(target: Path) -> dict[str, bytes]:
    """One small file per kind of input that refers to other resources, each naming ``target``."""
    url = target.resolve().as_uri()
    return {
        "dash": (f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
                 f'mediaPresentationDuration="PT7S" minBufferTime="PT1S" '
                 f'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="audio/mp4">'
                 f'<Representation id="a" bandwidth="64000" codecs="mp4a.40.2" audioSamplingRate="16000">'
                 f'<BaseURL>{url}</BaseURL></Representation>'
                 f'</AdaptationSet></Period></MPD>').encode(),
        "hls": f"#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:7.25,\n{url}\n#EXT-X-ENDLIST\n".encode(),
        "hls-path": f"#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:7.25,\n{target.resolve()}\n#EXT-X-ENDLIST\n".encode(),
        "ffconcat": f"ffconcat version 1.0\nfile '{target.resolve()}'\n".encode(),
        "sdp": b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n",
        "webm-dash-manifest": (f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
                               f'<Period><AdaptationSet><Representation id="0"><BaseURL>{url}</BaseURL>'
                               f'</Representation></AdaptationSet></Period></MPD>').encode(),
    }


def wav_declaring(rate: int, payload_bytes: int) -> bytes:
    """An 8-bit mono WAV whose header claims ``rate`` samples a second: at 1 Hz, 36 KB claim 10 hours."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    data = bytes([128]) * payload_bytes
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
