"""``whisper-api batch``: an archive transcribed here, and on a real task queue (Redis, two workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import convert, write_wav
from tests.support.cli import run_cli
from tests.support.cluster import REDIS, run_redis, run_worker
from tests.support.http_server import ServedFiles, serve
from tests.support.server import model_home
from whisper_api.audio import decode_file
from whisper_api.batch import expand
from whisper_api.errors import InvalidOptionError

CLIPS = 50


def _clips(folder: Path, jfk: Path, count: int) -> list[Path]:
    """``count`` clips of 2-4 s of real speech, each cut from a different place in JFK's sentence."""
    folder.mkdir(parents=True, exist_ok=True)
    speech = decode_file(jfk).mono()
    clips = []
    for index in range(count):
        start = (index * 7919) % (len(speech) - 4 * 16000)
        length = 16000 * (2 + index % 3)
        clips.append(write_wav(folder / f"clip-{index:02d}.wav", [speech[start:start + length]]))
    return clips


def test_results_for_every_input_and_a_rerun_does_nothing(tmp_path: Path, tiny_en: Path, jfk: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "a").mkdir(parents=True)
    (inputs / "b").mkdir()
    (inputs / "a" / "talk.wav").write_bytes(jfk.read_bytes())
    (inputs / "b" / "talk.wav").write_bytes(jfk.read_bytes())  # the same name in two folders
    (inputs / "b" / "broken.flac").write_bytes(b"not audio at all")
    out = tmp_path / "out"
    with serve(ServedFiles({"/speech/jfk.wav": jfk.read_bytes()})) as url:
        command = ("batch", "submit", str(inputs), f"{url}/speech/jfk.wav", "--out", str(out), "--format", "json,srt",
                   "--model", str(tiny_en), "--language", "en", "--local")
        first = run_cli(*command)
        assert first.returncode == 1, first.stderr  # one input failed; the others were written
        assert b"broken.flac" in first.stderr and b"1 of 4 failed" in first.stderr
        written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
        assert written == ["a/talk.json", "a/talk.srt", "b/talk.json", "b/talk.srt", "jfk.json", "jfk.srt"]
        for name in ("a/talk.json", "b/talk.json", "jfk.json"):
            assert "ask not what your country" in json.loads((out / name).read_text())["text"].lower()

        convert(jfk, inputs / "b" / "broken.flac")  # repaired: the rerun does that one only
        again = run_cli(*command)
    assert again.returncode == 0, again.stderr
    assert b"4 inputs: 3 done already, 1 to transcribe" in again.stderr
    assert "ask not what" in json.loads((out / "b" / "broken.json").read_text())["text"].lower()


def test_inputs_from_a_list_and_glob_patterns(tmp_path: Path, micro_model: Path, speechlike_wav: Path) -> None:
    for name in ("one.wav", "two.wav", "skip.txt"):
        (tmp_path / name).write_bytes(speechlike_wav.read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the archive\n{tmp_path / 'one.wav'}\n\n")
    result = run_cli("batch", "submit", str(tmp_path / "t*.wav"), "--from", str(listing), "--out",
                     str(tmp_path / "out"), "-f", "txt", "--model", str(micro_model))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["one.txt", "two.txt"]


def test_ctrl_c_stops_the_engine_at_once_and_writes_nothing(tmp_path: Path, tiny_en: Path, jfk: Path) -> None:
    long = write_wav(tmp_path / "long.wav", [np.tile(decode_file(jfk).mono(), 55)])  # 10 minutes of real speech
    command = [sys.executable, "-m", "whisper_api", "batch", "submit", str(long), "--out", str(tmp_path / "out"),
               "--model", str(tiny_en), "--language", "en", "--local"]
    running = subprocess.Popen(command, stderr=subprocess.PIPE)
    time.sleep(3)  # the model loads, the first windows decode (real weights: the engine reports progress often)
    running.send_signal(signal.SIGINT)
    _, log = running.communicate(timeout=60)
    assert running.returncode == 130 and b"interrupted: the same command goes on" in log
    assert not list((tmp_path / "out").glob("*.json"))


def test_bad_requests_fail_before_any_work(tmp_path: Path) -> None:
    assert b"no such file" in run_cli("batch", "submit", str(tmp_path / "absent.wav")).stderr
    assert b"no file matches" in run_cli("batch", "submit", str(tmp_path / "*.mp3")).stderr
    assert b"unknown format doc" in run_cli("batch", "submit", str(tmp_path), "-f", "json,doc").stderr
    assert b"nothing to transcribe" in run_cli("batch", "submit", str(tmp_path)).stderr  # an empty folder


def test_names_follow_how_inputs_were_given_and_never_collide(tmp_path: Path) -> None:
    for name in ("x/talk.mp3", "x/talk.wav", "x/sub/talk.wav", "x/sub/deeper/take.wav", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InvalidOptionError, match=r"talk\.mp3 and .*talk\.wav would both write talk"):
        expand([str(tmp_path / "x")])
    named = {Path(item.source).relative_to(tmp_path).as_posix(): item.name
             for item in expand([str(tmp_path / "x")], keep_extension=True)}
    assert named == {"x/talk.mp3": "talk.mp3", "x/talk.wav": "talk.wav", "x/sub/talk.wav": "sub/talk.wav",
                     "x/sub/deeper/take.wav": "sub/deeper/take.wav"}
    by_pattern = [item.name for item in expand([str(tmp_path / "x" / "sub" / "**" / "*.wav")])]
    assert by_pattern == ["deeper/take", "talk"]  # below the pattern's fixed part, whatever else is given
    assert [item.name for item in expand([str(tmp_path / "x" / "sub")])] == ["deeper/take", "talk"]
    urls = expand(["https://h/a/talk.wav", "https://h/a/take%20two.mp3"])
    assert [item.name for item in urls] == ["talk", "take two"]


@pytest.mark.skipif(REDIS is None, reason="needs redis-server (apt install redis-server)")
def test_an_archive_on_two_workers_survives_a_killed_worker_and_a_stopped_submitter(tmp_path: Path, tiny_en: Path,
                                                                                   jfk: Path) -> None:
    pytest.importorskip("celery", reason="needs the cluster extra: pip install 'whisper-api[cluster]'")
    redis = pytest.importorskip("redis", reason="needs the cluster extra: pip install 'whisper-api[cluster]'")
    home = model_home(tmp_path / "home", tiny_en)
    clips = _clips(tmp_path / "archive", jfk, CLIPS)
    out = tmp_path / "out"
    with run_redis(home) as broker:
        # A short visibility timeout, so the killed worker's task comes back soon.
        env = {"WHISPER_API_BROKER_URL": broker, "WHISPER_API_THREADS": "1", "WHISPER_API_REQUEST_TIMEOUT": "10",
               "WHISPER_API_CALLBACK_ATTEMPTS": "1"}
        submitter_env = {**os.environ, "WHISPER_API_HOME": str(home), **env}
        command = [sys.executable, "-m", "whisper_api", "batch", "submit", str(clips[0].parent), "--out", str(out),
                   "--format", "json,vtt", "--model", "tiny.en", "--language", "en"]
        with run_worker(home, env, "a") as first, run_worker(home, env, "b"):
            submitter = subprocess.Popen(command, env=submitter_env, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while len(list(out.glob("*.vtt"))) < CLIPS // 3:
                assert submitter.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)  # a worker dies mid-task, and the submitter is stopped (Ctrl-C)
            submitter.send_signal(signal.SIGINT)
            submitter.communicate(timeout=60)
            written = sum(all((out / f"{clip.stem}.{fmt}").exists() for fmt in ("json", "vtt")) for clip in clips)
            resumed = subprocess.run(command, env=submitter_env, capture_output=True, timeout=240, check=False)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert f"{written} done already, {CLIPS - written} to transcribe".encode() in resumed.stderr
        lines = [line for line in resumed.stderr.decode().splitlines() if line.startswith("[")]
        assert len(lines) == CLIPS - written and len({line.split()[1] for line in lines}) == len(lines)
        assert sorted(path.stem for path in out.glob("*.json")) == [clip.stem for clip in clips]
        assert all(json.loads(path.read_text())["text"].strip() for path in out.glob("*.json"))
        assert not list((home / "jobs" / "batch").iterdir())  # the spooled audio is gone with its result
        assert not redis.Redis.from_url(broker).keys("whisper-api:batch*")  # and so are results and marks

        status = subprocess.run([sys.executable, "-m", "whisper_api", "batch", "status"], env=submitter_env,
                                capture_output=True, timeout=60, check=False)
        assert status.returncode == 0 and b"waiting: 0 tasks" in status.stdout, status.stderr
        rerun = subprocess.run(command, env=submitter_env, capture_output=True, timeout=60, check=False)
    assert rerun.returncode == 0 and f"{CLIPS} done already, 0 to transcribe".encode() in rerun.stderr
    assert all(clip.exists() for clip in clips)  # the inputs are never touched
