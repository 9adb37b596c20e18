#!/usr/bin/env python3
"""Callback jobs on the task queue: throughput with 1 and 2 workers, and what the queue adds per task.

Real parts on loopback: a Redis started here, a `whisper-api serve` with WHISPER_API_BROKER_URL,
`whisper-api worker` processes (real tiny.en, 1 thread each), a local callback receiver. The
clips are the short and conversational sets of ../shared/data/asr-dev (23 clips, 131 s), uploaded
as WAV files with `callback=`.

  throughput   every clip submitted at once; audio hours per wall hour from the first upload to
               the last delivery, with 1 worker and with 2 (the ratio is the scaling);
  overhead     one clip at a time through the queue, from the server's answer (the task sent) to
               the callback received, against the same clip transcribed in this process from the
               same file (decoding included), 1 thread: the median difference per task is what the
               queue, the job table's updates and the callback add. The upload itself (HTTP, the
               spool file, the job's row, sending the task) is reported beside it.
  remote       one clip at a time as a synchronous POST /v1/listen to a `serve --remote-workers` with one
               worker, against the same requests to a server that transcribes them itself (1 thread
               each): the median difference is what sending requests to the workers adds.

usage: bench/cluster.py [--rounds 2]   (needs: pip install '.[cluster]', redis-server, ../shared)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from common import SHARED

from whisper_api.audio import decode_file
from whisper_api.core import Transcriber
from whisper_api.keys import KeyStore
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.callbacks import Receiver, receive_callbacks
from tests.support.cluster import REDIS, run_redis, run_worker
from tests.support.server import RunningServer, model_home, run_server

MODELS = Path(__file__).resolve().parents[1] / "models"
DATA = SHARED / "data" / "asr-dev"
ENV = {"WHISPER_API_THREADS": "1", "WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32"}


def clips() -> list[Path]:
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").read_text().splitlines()]
    return [DATA / row["path"] for row in rows if row["set"] in ("short", "conversational")]


@contextmanager
def cluster(home: Path, workers: int) -> Iterator[tuple[RunningServer, str, Receiver]]:
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("bench", ("listen",))[1].text
    with ExitStack() as stack:
        broker = stack.enter_context(run_redis(home))
        env = {**ENV, "WHISPER_API_BROKER_URL": broker}
        server = stack.enter_context(run_server(home, "--model", "tiny.en", env=env))
        for index in range(workers):
            stack.enter_context(run_worker(home, env, str(index)))
        yield server, key, stack.enter_context(receive_callbacks())


def submit(server: RunningServer, key: str, path: Path, receiver: Receiver) -> None:
    httpx.post(f"{server.url}/v1/listen", params={"callback": f"{receiver.url}/done", "language": "en"},
               content=path.read_bytes(), headers={"Authorization": f"Token {key}"}, timeout=60).raise_for_status()


def wait_for(receiver: Receiver, count: int) -> None:
    while len(receiver.deliveries) < count:
        time.sleep(0.005)


def throughput(home: Path, workers: int, paths: list[Path]) -> float:
    """Seconds from the first upload to the last delivery, every clip submitted at once."""
    with cluster(home, workers) as (server, key, receiver):
        started = time.perf_counter()
        for path in paths:
            submit(server, key, path, receiver)
        wait_for(receiver, len(paths))
        return time.perf_counter() - started


def queued_seconds(home: Path, paths: list[Path]) -> tuple[list[float], list[float]]:
    """One clip at a time, one worker: the upload (until the server answers, the task sent) and from
    the answer to the callback."""
    uploads: list[float] = []
    queued: list[float] = []
    with cluster(home, 1) as (server, key, receiver):
        for path in paths:
            started = time.perf_counter()
            submit(server, key, path, receiver)
            answered = time.perf_counter()
            wait_for(receiver, len(queued) + 1)
            uploads.append(answered - started)
            queued.append(time.perf_counter() - answered)
    return uploads, queued


def sync_seconds(home: Path, paths: list[Path], remote: bool) -> list[float]:
    """Each clip as one synchronous request, one at a time: to a --remote-workers server with one worker,
    or to a server that transcribes itself."""
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("bench", ("listen",))[1]
    seconds = []
    with ExitStack() as stack:
        env = {**ENV, "WHISPER_API_BROKER_URL": stack.enter_context(run_redis(home))} if remote else ENV
        server = stack.enter_context(run_server(home, "--model", "tiny.en", *(["--remote-workers"] if remote else []),
                                                env=env))
        if remote:
            stack.enter_context(run_worker(home, env, "remote"))
        for path in [paths[0], *paths]:  # the first request warms the model up and is not counted
            started = time.perf_counter()
            httpx.post(f"{server.url}/v1/listen", params={"language": "en"}, content=path.read_bytes(),
                       headers={"Authorization": f"Token {key.text}"}, timeout=60).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return seconds[1:]


def direct_seconds(paths: list[Path]) -> list[float]:
    """The same clips from the same files, in this process (decoding included), 1 thread."""
    options = TranscribeOptions(model="tiny.en", language="en", threads=1)
    with Transcriber(load_settings({"models_dir": str(MODELS), "threads": 1})) as transcriber:
        transcriber.transcribe(decode_file(paths[0]), options)  # the model loads outside the timing
        seconds = []
        for path in paths:
            started = time.perf_counter()
            transcriber.transcribe(decode_file(path), options)
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each throughput set-up; the best counts")
    args = parser.parse_args()
    if REDIS is None or not DATA.is_dir() or not (MODELS / "ggml-tiny.en.bin").is_file():
        sys.exit(f"needs redis-server, {DATA} and real tiny.en in {MODELS}")
    paths = clips()
    audio = sum(decode_file(path).duration for path in paths)
    results = {}
    for workers in (1, 2):
        best = float("inf")
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as folder:
                best = min(best, throughput(model_home(Path(folder), MODELS / "ggml-tiny.en.bin"), workers, paths))
        results[workers] = best
        print(f"{workers} worker(s), 1 thread each: {len(paths)} clips ({audio:.0f} s) in {best:.1f} s, "
              f"{audio / best:.1f} audio hours per hour")
    print(f"2 workers / 1 worker: {results[1] / results[2]:.2f}x")
    with tempfile.TemporaryDirectory() as folder:
        uploads, queued = queued_seconds(model_home(Path(folder), MODELS / "ggml-tiny.en.bin"), paths)
    direct = direct_seconds(paths)
    added = [through - alone for through, alone in zip(queued, direct, strict=True)]
    print(f"one clip at a time (medians): upload answered in {statistics.median(uploads) * 1000:.0f} ms; answer to "
          f"callback {statistics.median(queued) * 1000:.0f} ms against {statistics.median(direct) * 1000:.0f} ms "
          f"in-process: the queue adds {statistics.median(added) * 1000:.0f} ms per task "
          f"(mean {statistics.mean(added) * 1000:.0f} ms)")
    timed = {}
    for remote in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            timed[remote] = sync_seconds(model_home(Path(folder), MODELS / "ggml-tiny.en.bin"), paths, remote)
    extra = [far - near for far, near in zip(timed[True], timed[False], strict=True)]
    print(f"synchronous requests (medians): {statistics.median(timed[True]) * 1000:.0f} ms through the workers "
          f"against {statistics.median(timed[False]) * 1000:.0f} ms on the server itself: --remote-workers adds "
          f"{statistics.median(extra) * 1000:.0f} ms per request (mean {statistics.mean(extra) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
