"""The subprocess engine: whisper.cpp's own ``whisper-cli`` binary, one process per job.

It is how users bring their own whisper.cpp build (CUDA, Metal, Vulkan, OpenVINO). Each job
writes the samples as a float WAV into a private temporary folder, runs whisper-cli with
full JSON output (``-ojf``) and reads segments and tokens back into the same Transcript the
native engine makes. The folder goes away on success, failure and cancellation alike; a
cancelled or timed-out job kills its child.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from whisper_api.audio import SAMPLE_RATE, write_float_wav
from whisper_api.engine import whispercpp_log
from whisper_api.engine.base import DecodeProgress, EngineJob, EngineResult, resolve_language
from whisper_api.engine.tokens import Token, build_segment
from whisper_api.engine.whisper_cli_build import BINARY_NAME, installed_binary
from whisper_api.errors import EngineError, TranscriptionCancelled
from whisper_api.models.ggml import GgmlHeader, read_header
from whisper_api.transcript import Segment

_SEGMENT_END = re.compile(r"--> (\d+):(\d\d):(\d\d(?:\.\d+)?)\]")
"""The end time in a segment line whisper-cli prints: ``[00:00:00.000 --> 00:00:07.600]   text``."""
POLL_SECONDS = 0.05
STDERR_TAIL = 12


def find_whisper_cli(explicit: str | None, home: Path) -> Path:
    """The binary: an explicit path, else the one ``whisper-api engine build`` installed, else PATH."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineError(f"whisper-cli not found or not executable: {path}")
        return path
    found = installed_binary(BINARY_NAME, home)
    if found is not None:
        return found
    raise EngineError("whisper-cli not found: build it with 'whisper-api engine build', "
                      "or point --whisper-cli / WHISPER_API_WHISPER_CLI at your own build")


class CliEngine:
    name = "cli"

    def __init__(self, binary: str | None = None, home: Path | None = None, timeout: float | None = None) -> None:
        self._explicit = binary
        self._home = home or Path.home()
        self.timeout = timeout
        """Seconds a job may run before its child is killed (None: no limit)."""

    @property
    def binary(self) -> Path:
        return find_whisper_cli(self._explicit, self._home)

    def preload(self, model_path: Path) -> None:
        self.binary  # noqa: B018 - fail at start-up, not on the first job
        read_header(model_path)

    def close(self) -> None:
        """Nothing stays loaded between jobs."""

    def transcribe(self, job: EngineJob) -> EngineResult:
        header = read_header(job.model_path)
        language = resolve_language(job.decoding, header.multilingual, _known_language)
        with tempfile.TemporaryDirectory(prefix="whisper-api-cli-") as work_dir:
            work = Path(work_dir)
            wav = write_float_wav(work / "audio.wav", job.audio)
            child = _Child(_command(self.binary, job, wav, work / "out", language), job)
            status = child.wait(self.timeout)
            if status != 0:
                raise EngineError(f"whisper-cli {_describe(status)}: {child.stderr_tail()}")
            if child.progress is not None:
                child.progress.percent(100)
            segments, detected = _parse(work / "out.json", header, job.audio.size / SAMPLE_RATE,
                                        job.decoding.word_timestamps)
        confidence = whispercpp_log.detected_language_probability(child.lines) if language == "auto" else None
        return EngineResult(segments, detected or language, confidence)


def _known_language(code: str) -> bool:
    import _pywhispercpp as pw  # the same whisper.cpp language table, without loading a model

    return bool(pw.whisper_lang_id(code) >= 0)


def _command(binary: Path, job: EngineJob, wav: Path, out_prefix: Path, language: str) -> list[str]:
    """Every option the native engine honours, as whisper-cli flags (its own defaults differ).

    whisper-cli has no flags for ``timestamps`` and ``max_tokens``: they only make decoding cheaper,
    so this engine decodes in full instead."""
    options, thresholds = job.decoding, job.decoding.thresholds
    command = [str(binary), "-m", str(job.model_path), "-f", str(wav), "-of", str(out_prefix), "-ojf",
               "-t", str(job.threads), "-l", language, "-bs", str(options.beam_size), "-bo", str(options.best_of),
               "-tp", str(options.temperature), "-nth", str(thresholds.no_speech), "-lpt", str(thresholds.logprob),
               "-et", str(thresholds.entropy)]
    if not options.temperature_fallback:
        command.append("-nf")
    if options.translate:
        command.append("-tr")
    if options.audio_context:
        command += ["-ac", str(options.audio_context)]
    if options.initial_prompt:
        command += ["--prompt", options.initial_prompt]
    return command


class _Child:
    """A running whisper-cli: stderr read on a thread (language, error tail); with progress on, stdout
    too: the segments it prints as it goes are the progress (its own percentage, on the other pipe,
    could be read ahead of them and make the progress jump a whole window)."""

    def __init__(self, command: list[str], job: EngineJob) -> None:
        self.job = job
        self.lines: list[str] = []
        self._tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.progress = None if job.progress is None else DecodeProgress(job.progress, job.audio.size / SAMPLE_RATE)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL if self.progress is None else subprocess.PIPE)
        except OSError as exc:
            raise EngineError(f"cannot run {command[0]}: {exc.strerror}") from exc
        reads = [self._read_stderr] + ([] if self.progress is None else [self._follow_segments])
        self._readers = [threading.Thread(target=read, daemon=True) for read in reads]
        for reader in self._readers:
            reader.start()

    def _follow_segments(self) -> None:
        assert self.process.stdout is not None and self.progress is not None
        for raw in self.process.stdout:
            match = _SEGMENT_END.search(raw.decode("utf-8", errors="replace"))
            if match:
                hours, minutes, seconds = match.groups()
                self.progress.segment_ended(int(hours) * 3600 + int(minutes) * 60 + float(seconds))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self._tail.append(line)
            if "auto-detected language" in line:
                self.lines.append(line)

    def wait(self, timeout: float | None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    status = self.process.wait(POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    if self.job.cancel is not None and self.job.cancel.is_set():
                        raise TranscriptionCancelled("transcription cancelled") from None
                    if deadline is not None and time.monotonic() > deadline:
                        raise EngineError(f"whisper-cli timed out after {timeout:g} s") from None
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join()
        if status == -2 or (self.job.cancel is not None and self.job.cancel.is_set()):
            raise TranscriptionCancelled("transcription cancelled")  # Ctrl-C reaches the child too
        return status

    def stderr_tail(self) -> str:
        lines = [line for line in self._tail if line.strip()]
        return " | ".join(lines[-4:]) or "no output"


def _describe(status: int) -> str:
    return f"crashed (signal {-status})" if status < 0 else f"failed (exit {status})"


def _parse(path: Path, header: GgmlHeader, duration: float, word_timestamps: bool) -> tuple[tuple[Segment, ...], str]:
    """Segments and language from whisper-cli's ``-ojf`` JSON.

    Token text is raw bytes (not always valid UTF-8, only quotes and backslashes escaped), so
    the file is decoded with surrogateescape and parsed leniently, then turned back into bytes.
    """
    try:
        data = json.loads(path.read_bytes().decode("utf-8", errors="surrogateescape"), strict=False)
    except (OSError, ValueError) as exc:
        raise EngineError(f"whisper-cli wrote no readable JSON ({exc})") from exc
    try:
        segments = [_segment(item, header, duration, word_timestamps) for item in data["transcription"]]
        language = str(data["result"]["language"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EngineError(f"whisper-cli JSON is not in the expected shape ({exc!r})") from exc
    return tuple(segment for segment in segments if segment is not None), language


def _segment(item: dict[str, Any], header: GgmlHeader, duration: float, word_timestamps: bool) -> Segment | None:
    tokens = []
    for token in item["tokens"]:
        if int(token["id"]) >= header.end_of_text:
            continue
        offsets = token.get("offsets", {"from": -10, "to": -10})  # absent when whisper.cpp had none (t = -1)
        tokens.append(Token(str(token["text"]).encode("utf-8", errors="surrogateescape"),
                            offsets["from"] / 1000, offsets["to"] / 1000, float(token["p"])))
    return build_segment(item["offsets"]["from"] / 1000, item["offsets"]["to"] / 1000, tokens, duration,
                         word_timestamps)
