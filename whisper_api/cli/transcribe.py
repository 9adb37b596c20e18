"""``whisper-api transcribe``: files or stdin to text, JSON, SRT or WebVTT.

Where results go: ``-o -`` prints to stdout, ``-o DIR`` writes DIR/<name>.<format>.
Without ``-o``, format flags write files beside each input (stdin input prints), and no
format flag prints plain text. Each file that fails is reported and the rest go on; the
exit code is 1 if any failed.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whisper_api.batch import write_atomically
from whisper_api.cli import speakers as speaker_options
from whisper_api.cli.console import failed, info, progress_bar, result_of, warn
from whisper_api.cli.downloads import download_with_progress
from whisper_api.cli.flags import flag
from whisper_api.errors import InvalidOptionError, WhisperApiError
from whisper_api.formats import FORMATTERS
from whisper_api.models import catalogue_model
from whisper_api.models.store import looks_like_path
from whisper_api.options import DEFAULT_THRESHOLDS, RANGES, TranscribeOptions
from whisper_api.settings import Settings, load_settings
from whisper_api.transcript import Transcript

if TYPE_CHECKING:
    from whisper_api.core import AudioSource, Transcriber

STDIN = STDOUT = "-"
EXIT_INTERRUPTED = 130


def transcribe(
    files: Annotated[list[str], typer.Argument(help="Audio or video files; - reads standard input.")],
    txt: Annotated[bool, flag("--txt", help="Plain text, one line per segment.")] = False,
    srt: Annotated[bool, flag("--srt", help="SubRip subtitles.")] = False,
    vtt: Annotated[bool, flag("--vtt", help="WebVTT subtitles.")] = False,
    json_: Annotated[bool, flag("--json", help="JSON with segments and timed words.")] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Folder for the results, or - for standard output.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name or path to a .bin.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Spoken language (en, de, ...); default: detect.")
    ] = None,
    translate: Annotated[bool, flag("--translate", help="Translate the speech into English.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", "-t", min=1, help="CPU threads.")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Initial prompt: names, spellings.")] = None,
    beam_size: Annotated[int, typer.Option("--beam-size", min=1, help="1 decodes greedily (fastest).")] = 1,
    no_fallback: Annotated[
        bool, flag("--no-fallback", help="Never re-decode at a higher temperature.")
    ] = False,
    vad: Annotated[bool | None, flag(
        "--vad/--no-vad", help="Decode only speech (Silero VAD); default: when silero-vad is installed.")] = None,
    vad_model: Annotated[str | None, typer.Option("--vad-model", help="VAD model name or path.")] = None,
    no_guard: Annotated[bool, flag(
        "--no-guard", help="Turn off the hallucination guard: automatic VAD, thresholds, repetition filter.")] = False,
    no_repetition_filter: Annotated[bool, flag(
        "--no-repetition-filter", help="Keep repeated segments and phrases.")] = False,
    no_speech_threshold: Annotated[float, typer.Option(
        "--no-speech-threshold", **RANGES["no_speech_threshold"].bounds(),
        help="Drop windows more likely silence than this; 1: never.")
    ] = DEFAULT_THRESHOLDS.no_speech,
    logprob_threshold: Annotated[float, typer.Option(
        "--logprob-threshold", **RANGES["logprob_threshold"].bounds(),
        help="Re-decode or drop windows below this log-probability; -inf: never.")
    ] = DEFAULT_THRESHOLDS.logprob,
    entropy_threshold: Annotated[float, typer.Option(
        "--entropy-threshold", **RANGES["entropy_threshold"].bounds(),
        help="Re-decode looping windows below this entropy; 0: never.")
    ] = DEFAULT_THRESHOLDS.entropy,
    multichannel: Annotated[
        bool, flag("--multichannel", help="Transcribe each audio channel separately.")
    ] = False,
    download: Annotated[
        bool | None, flag("--download/--no-download", help="Fetch a missing catalogue model first.")
    ] = None,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="native (default) or cli.")] = None,
    whisper_cli: Annotated[
        str | None, typer.Option("--whisper-cli", help="whisper-cli binary for --engine cli.")
    ] = None,
    diarize: Annotated[bool, flag("--diarize", help="Label each word with its speaker.")] = False,
    speakers: speaker_options.Speakers = None,
    min_speakers: speaker_options.MinSpeakers = None,
    max_speakers: speaker_options.MaxSpeakers = None,
    diarize_mode: speaker_options.Mode = "speaker",
) -> None:
    """Transcribe audio or video files to text, JSON, SRT or WebVTT."""
    formats = [name for name, wanted in (("txt", txt), ("json", json_), ("srt", srt), ("vtt", vtt)) if wanted]
    if files.count(STDIN) > 1:
        raise InvalidOptionError("standard input (-) can be read only once")
    to_stdout = output == STDIN or (output is None and (not formats or files == [STDIN]))
    formats = formats or ["txt"]
    if to_stdout and len(formats) > 1:
        raise InvalidOptionError("printing to standard output takes one format; use -o DIR for several")
    settings = load_settings({"model": model, "threads": threads, "auto_download": download, "engine": engine,
                              "whisper_cli": whisper_cli})
    options = TranscribeOptions(
        model=model, language=language, translate=translate, threads=threads, initial_prompt=prompt,
        beam_size=beam_size, temperature_fallback=not no_fallback, vad=vad, vad_model=vad_model,
        guard=not no_guard, repetition_filter=not no_repetition_filter, no_speech_threshold=no_speech_threshold,
        logprob_threshold=logprob_threshold, entropy_threshold=entropy_threshold, multichannel=multichannel,
        diarize=speaker_options.diarize_options(diarize_mode, speakers, min_speakers, max_speakers)
        if diarize else None,
    )
    if not to_stdout:
        _refuse_shared_targets(files, formats, output)
    from whisper_api.core import Transcriber  # the engine stack: loaded only when there is work (fast --help)

    with Transcriber(settings) as transcriber:
        ensure_model(transcriber, settings)
        if options.diarize:
            speaker_options.ensure_diarization_models(settings, options.diarize)
        failures = 0
        for name in files:
            try:
                transcript = _run_with_progress(transcriber, name, options)
                for warning in transcript.warnings:
                    warn(warning)
                _write(transcript, name, formats, STDOUT if to_stdout else output)
            except WhisperApiError as exc:
                failed(name, exc)
                failures += 1
    if failures:
        raise typer.Exit(1)


def ensure_model(transcriber: Transcriber, settings: Settings) -> None:
    """Fetch the model first when auto-download is on and it is a catalogue model not yet here."""
    entry = catalogue_model(settings.model) if not looks_like_path(settings.model) else None
    if settings.auto_download and entry and not transcriber.models.path_for(entry.name).is_file():
        download_with_progress(entry, settings)
    transcriber.model_path()  # a missing model fails here, once, before any file is read


def _run_with_progress(transcriber: Transcriber, name: str, options: TranscribeOptions) -> Transcript:
    """Run one file in a worker thread, so Ctrl-C here can cancel the engine mid-decode."""
    source: AudioSource = sys.stdin.buffer if name == STDIN else name
    cancel = threading.Event()
    with progress_bar() as progress, ThreadPoolExecutor(max_workers=1) as pool:
        task = progress.add_task(Path(name).name if name != STDIN else "<stdin>", total=1.0)
        future = pool.submit(
            transcriber.transcribe, source, options,
            progress=lambda fraction: progress.update(task, completed=fraction), cancel=cancel,
        )
        try:
            transcript = result_of(future)
        except KeyboardInterrupt:
            cancel.set()
            future.exception()  # wait for the engine to stop before leaving
            progress.stop()  # the bar ends its line first, so the message has a line of its own
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        progress.update(task, completed=1.0)
    return transcript


def _targets(name: str, formats: list[str], destination: str | None) -> list[Path]:
    """Where an input's results go: ``destination`` (a folder) or, when None, beside the input."""
    folder = Path(destination) if destination else Path(name).parent
    stem = "stdin" if name == STDIN else Path(name).stem
    return [folder / f"{stem}.{fmt}" for fmt in formats]


def _refuse_shared_targets(files: list[str], formats: list[str], destination: str | None) -> None:
    """Two inputs whose results would land in the same file (a/talk.wav and b/talk.wav with -o out/,
    talk.mp3 and talk.wav): refused before any work, so no result overwrites another."""
    claimed: dict[Path, str] = {}
    for name in files:
        for target in _targets(name, formats, destination):
            earlier = claimed.setdefault(target.resolve(), name)
            if earlier != name:
                raise InvalidOptionError(f"{earlier} and {name} would both write {target}; "
                                         "transcribe them into different folders (-o) or rename one")


def _write(transcript: Transcript, name: str, formats: list[str], destination: str | None) -> None:
    """``destination``: STDOUT, a folder, or None for beside the input file."""
    if destination == STDOUT:
        sys.stdout.write(FORMATTERS[formats[0]](transcript))
        sys.stdout.flush()
        return
    for fmt, target in zip(formats, _targets(name, formats, destination), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, FORMATTERS[fmt](transcript))
        info(f"wrote {target}")

