"""The ``/v1/listen`` WebSocket on a real server: the Deepgram SDK's live client and raw clients."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from deepgram import AsyncDeepgramClient
from deepgram.core.events import EventType
from deepgram.environment import DeepgramClientEnvironment

from tests.support.audio_files import convert, noise, silence, speechlike, tone, write_wav
from tests.support.server import Live

CHUNK = 3200  # 100 ms of 16 kHz linear16
PCM = "?encoding=linear16&sample_rate=16000"


def int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2")


def linear16(samples: np.ndarray) -> bytes:
    return int16(samples).tobytes()


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[start:start + size] for start in range(0, len(data), size)]


SPEECH = linear16(np.concatenate([speechlike(), silence(2.0)]))  # 12 s: four bursts, then quiet


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    code: int | None = None
    reason: str = ""
    subprotocol: str | None = None
    request_id: str | None = None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    def finals(self) -> list[dict[str, Any]]:
        return [message for message in self.of_type("Results") if message["is_final"]]


async def converse(live: Live, query: str, frames: Sequence[bytes | str | dict[str, Any] | float],
                   subprotocols: list[str] | None = None, auth: bool = True) -> Conversation:
    """Send frames (a float pauses that long), then read everything until the server closes."""
    headers = {"Authorization": f"Token {live.key}"} if auth and subprotocols is None else {}
    talk = Conversation()
    async with websockets.connect(live.ws + query, additional_headers=headers, max_size=None,
                                  subprotocols=subprotocols) as socket:  # type: ignore[arg-type]
        talk.subprotocol, talk.request_id = socket.subprotocol, socket.response.headers.get("dg-request-id")
        reader = asyncio.create_task(_read(socket, talk))
        for frame in frames:
            if isinstance(frame, float):
                await asyncio.sleep(frame)
            else:
                await socket.send(json.dumps(frame) if isinstance(frame, dict) else frame)
        await asyncio.wait_for(reader, 120)
    return talk


async def _read(socket: websockets.ClientConnection, talk: Conversation) -> None:
    try:
        async for message in socket:
            talk.messages.append(json.loads(message))
    except websockets.ConnectionClosedError:
        pass  # an abnormal close code: recorded below
    finally:
        if socket.close_code is not None:
            talk.code, talk.reason = socket.close_code, socket.close_reason or ""


def paced(data: bytes, pause: float) -> list[bytes | float]:
    frames: list[bytes | float] = []
    for piece in chunks(data):
        frames += [piece, pause]
    return frames


def sdk_environment(live: Live) -> DeepgramClientEnvironment:
    url = live.server.url
    return DeepgramClientEnvironment(base=url, production=url.replace("http", "ws"),
                                     agent=url.replace("http", "ws"), agent_rest=url)


async def sdk_stream(live: Live, pause: float) -> tuple[list[Any], int | None]:
    client = AsyncDeepgramClient(api_key=live.key, environment=sdk_environment(live))
    received: list[Any] = []
    async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000, interim_results=True,
                                        endpointing=300, utterance_end_ms=1000, vad_events=True,
                                        smart_format=True) as connection:
        connection.on(EventType.MESSAGE, received.append)
        listener = asyncio.create_task(connection.start_listening())
        for piece in chunks(SPEECH):
            await connection.send_media(piece)
            await asyncio.sleep(pause)
        await connection.send_close_stream()
        await asyncio.wait_for(listener, 120)
        return received, connection._websocket.close_code


def kinds(received: list[Any]) -> list[str]:
    return [type(message).__name__.removeprefix("ListenV1") for message in received]


def test_sdk_live_client_at_real_time(live: Live) -> None:
    received, code = asyncio.run(sdk_stream(live, pause=0.1))
    names = kinds(received)
    results = [message for message in received if type(message).__name__ == "ListenV1Results"]
    assert {"Results", "SpeechStarted", "UtteranceEnd", "Metadata"} <= set(names)
    assert names[-1] == "Metadata" and code == 1000
    assert any(not r.is_final for r in results) and any(r.is_final and r.speech_final for r in results)
    finals = [r for r in results if r.is_final]
    assert all(r.channel.alternatives[0].words for r in finals)
    assert all(w.punctuated_word for r in finals for w in r.channel.alternatives[0].words)
    request_ids = {r.metadata.request_id for r in results}
    assert request_ids == {received[-1].request_id}
    assert received[-1].sha256 == "incomplete" and received[-1].duration == pytest.approx(12.0, abs=0.01)


def test_sdk_live_client_faster_than_real_time(live: Live) -> None:
    received, code = asyncio.run(sdk_stream(live, pause=0.0))
    finals = [m for m in received if type(m).__name__ == "ListenV1Results" and m.is_final]
    assert code == 1000 and len(finals) >= 3
    for before, after in itertools.pairwise(finals):  # finals tile the stream, never overlapping
        assert after.start == pytest.approx(before.start + before.duration, abs=0.002)
    for final in finals:
        for word in final.channel.alternatives[0].words:
            assert final.start - 0.001 <= word.start <= word.end <= final.start + final.duration + 0.001


def test_keepalive_holds_an_idle_stream_open_and_silence_times_out(live: Live) -> None:
    quiet = linear16(silence(0.5))
    kept: list[bytes | float | dict[str, Any]] = [quiet]
    for _ in range(6):
        kept += [2.0, {"type": "KeepAlive"}]
    kept.append({"type": "CloseStream"})

    async def both() -> tuple[Conversation, Conversation]:
        return await asyncio.gather(converse(live, PCM, kept), converse(live, PCM, [quiet]))

    alive, idle = asyncio.run(both())
    assert alive.code == 1000 and alive.messages[-1]["type"] == "Metadata"
    assert idle.code == 1011 and "NET-0001" in idle.reason
    assert idle.messages[-1]["type"] == "Metadata" and idle.messages[-1]["duration"] == 0.5


def test_finalize_flushes_the_utterance_in_progress(live: Live) -> None:
    talk = asyncio.run(converse(live, PCM + "&endpointing=false", [
        linear16(tone(1.5) * 0.5), {"type": "Finalize"}, 1.0, linear16(silence(0.3)), {"type": "CloseStream"}]))
    flushed = [m for m in talk.finals() if m["from_finalize"]]
    assert flushed and flushed[0]["channel"]["alternatives"][0]["words"] and not flushed[0]["speech_final"]
    assert talk.code == 1000


def test_an_empty_binary_frame_closes_the_stream_normally(live: Live) -> None:
    talk = asyncio.run(converse(live, PCM, [linear16(tone(1.0) * 0.5), b""]))
    assert talk.code == 1000 and talk.messages[-1]["type"] == "Metadata"
    assert talk.finals() and talk.messages[-1]["request_id"] == talk.request_id


def test_undecodable_audio_closes_with_1008(live: Live) -> None:
    garbage = np.random.default_rng(1).bytes(4000)
    talk = asyncio.run(converse(live, "?encoding=opus", [garbage, 2.0]))
    assert talk.code == 1008 and "DATA-0000" in talk.reason


def test_unparseable_text_gets_an_error_and_the_stream_goes_on(live: Live) -> None:
    talk = asyncio.run(converse(live, PCM, ["{not json", {"type": "Nonsense"}, linear16(tone(1.0) * 0.5),
                                            {"type": "CloseStream"}]))
    errors = talk.of_type("Error")
    assert [e["message"] for e in errors] == ["{not json", '{"type": "Nonsense"}']
    assert talk.code == 1000 and talk.finals()


def test_browser_subprotocol_auth_echoes_the_scheme_never_the_key(live: Live) -> None:
    talk = asyncio.run(converse(live, PCM, [b""], subprotocols=["token", live.key]))
    assert talk.subprotocol == "token" and talk.code == 1000
    grant = httpx.post(f"{live.server.url}/v1/auth/grant", headers={"Authorization": f"Token {live.key}"}, json={})
    token = grant.json()["access_token"]
    talk = asyncio.run(converse(live, PCM, [b""], subprotocols=["bearer", token, "x-deepgram-session-id"]))
    assert talk.subprotocol == "bearer" and talk.code == 1000


@pytest.mark.parametrize("subprotocols", [["token", "wa_000000000000_" + "x" * 43], None])
def test_refused_handshakes_are_plain_http_401(live: Live, subprotocols: list[str] | None) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(converse(live, PCM, [b""], subprotocols=subprotocols, auth=False))
    response = refused.value.response
    assert response.status_code == 401 and response.headers["dg-error"]
    body = json.loads(response.body)
    assert body["err_code"] == "INVALID_AUTH" and body["request_id"] == response.headers["dg-request-id"]


def test_bad_parameters_are_refused_before_the_upgrade(live: Live) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(converse(live, "?encoding=speex&sample_rate=8000", [b""]))
    assert refused.value.response.status_code == 400


def test_webm_opus_from_a_browser_is_sniffed(live: Live) -> None:
    wav = write_wav(live.audio / "clip.wav", [np.concatenate([speechlike(), silence(1.0)])])
    webm = convert(wav, live.audio / "clip.webm", "-c:a", "libopus", "-f", "webm").read_bytes()
    talk = asyncio.run(converse(live, "?interim_results=true", [*chunks(webm, 1000), {"type": "CloseStream"}]))
    assert talk.code == 1000 and len(talk.finals()) >= 2
    assert talk.messages[-1]["duration"] == pytest.approx(11.0, abs=0.1)


def test_multichannel_results_per_channel(live: Live) -> None:
    left = np.concatenate([speechlike(), silence(1.0)])
    right = np.concatenate([silence(1.0), noise(3.0, seed=3) * 0.5, silence(7.0)])
    stereo = np.stack([int16(left), int16(right)], axis=1).tobytes()
    talk = asyncio.run(converse(live, PCM + "&channels=2&multichannel=true",
                                [*chunks(stereo, 2 * CHUNK), {"type": "CloseStream"}]))
    indexes = {tuple(final["channel_index"]) for final in talk.finals()}
    assert indexes == {(0, 2), (1, 2)} and talk.messages[-1]["channels"] == 2


def test_three_streams_and_an_upload_all_finish_and_pings_are_answered(live: Live) -> None:
    upload = write_wav(live.audio / "batch.wav", [speechlike(seed=5)]).read_bytes()

    async def ping_during_load() -> None:
        async with websockets.connect(live.ws + PCM, additional_headers={"Authorization": f"Token {live.key}"}) as ws:
            for _ in range(5):
                await asyncio.wait_for(await ws.ping(), 10)  # the event loop answers while decodes run
                await asyncio.sleep(0.5)
            await ws.send(b"")

    async def batch() -> httpx.Response:
        async with httpx.AsyncClient(timeout=120) as client:
            return await client.post(f"{live.server.url}/v1/listen", content=upload,
                                     headers={"Authorization": f"Token {live.key}"})

    async def everything() -> tuple[Any, ...]:
        streams = [converse(live, PCM + "&interim_results=true", [*paced(SPEECH, 0.05), {"type": "CloseStream"}])
                   for _ in range(3)]
        return await asyncio.gather(*streams, batch(), ping_during_load())

    *talks, response, _ = asyncio.run(everything())
    assert response.status_code == 200
    for talk in talks:
        assert talk.code == 1000 and len(talk.finals()) >= 3 and talk.messages[-1]["type"] == "Metadata"
