"""``whisper-api models``: the catalogue, what is installed, downloads and removal."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from whisper_api.cli.console import failed, info, stderr, stdout
from whisper_api.cli.downloads import download_with_progress, install_speaker_encoder_with_status
from whisper_api.cli.flags import flag
from whisper_api.errors import InvalidOptionError, ModelImportError, ModelNotFoundError, WhisperApiError
from whisper_api.models import MODELS, SPEAKER_ENCODER, ModelStore, catalogue_model
from whisper_api.models.store import MODEL_NAME, display_name
from whisper_api.options import TranscribeOptions
from whisper_api.settings import Settings, load_settings

app = typer.Typer(help="List, download and remove GGML model files.", no_args_is_help=True)


def _size(count: int) -> str:
    return f"{count / (1 << 20):,.0f} MiB" if count >= 1 << 20 else f"{count / 1024:,.0f} KiB"


@app.command("list")
def list_models() -> None:
    """Show the catalogue of official models and which ones are installed."""
    settings = load_settings()
    installed = {model.name: model for model in ModelStore(settings.models_dir).installed()}
    table = Table(title=f"models folder: {settings.models_dir}", title_justify="left")
    for column in ("model", "size", "languages", "installed", "package index"):
        table.add_column(column)
    for entry in MODELS:
        here = installed.pop(entry.name, None)
        languages = "VAD" if entry.kind == "vad" else "English" if entry.english_only else "99"
        table.add_row(entry.name, _size(entry.size), languages, "yes" if here else "", "yes" if entry.fallback else "")
    encoder = ModelStore(settings.models_dir).path_for(SPEAKER_ENCODER)
    table.add_row(SPEAKER_ENCODER, "33 MiB", "speakers", "yes" if encoder.is_file() else "", "yes")
    for name, model in installed.items():  # files the catalogue does not know
        table.add_row(name, _size(model.size), "?", "yes (custom)", "")
    stdout.print(table)


@app.command("download")
def download(names: Annotated[list[str], typer.Argument(
        help="Catalogue names, e.g. base.en, silero-vad, speaker-encoder.")]) -> None:
    """Download models (resumable; the checksum is verified before the file is used). A model that fails
    is reported and the others are still fetched; the exit code is then 1."""
    settings = load_settings()
    failures = 0
    for name in names:
        try:
            _download_one(name, settings)
        except WhisperApiError as exc:  # say so, and go on with the others
            failed(name, exc)
            failures += 1
    if failures:
        raise typer.Exit(1)


def _download_one(name: str, settings: Settings) -> None:
    store = ModelStore(settings.models_dir)
    if store.path_for(name).is_file():
        info(f"{name} is already installed: {store.path_for(name)}")
        return
    if name == SPEAKER_ENCODER:
        install_speaker_encoder_with_status(settings)
        return
    entry = catalogue_model(name)
    if entry is None:
        store.resolve(name)  # raises the "unknown model ... did you mean" error
        raise ModelNotFoundError(f"'{name}' is not a catalogue model and cannot be downloaded")
    download_with_progress(entry, settings)


@app.command("import")
def import_model(
    folder: Annotated[Path, typer.Argument(help="A faster-whisper (CTranslate2) folder, or a Hugging Face "
                                           "transformers Whisper folder (config.json + model.safetensors).",
                                           exists=True, file_okay=False)],
    name: Annotated[str | None, typer.Option(help="The model's name here (default: the folder's name).")] = None,
    force: Annotated[bool, flag(help="Replace an installed model of the same name.")] = False,
) -> None:
    """Convert a faster-whisper or Hugging Face Whisper model into a GGML model (numpy only, no torch)."""
    from whisper_api.models.convert import convert

    settings = load_settings()
    name = name or folder.resolve().name
    if not MODEL_NAME.fullmatch(name):
        raise InvalidOptionError(f"'{name}' cannot name a model: use letters, digits and . _ + - (--name)")
    destination = ModelStore(settings.models_dir).path_for(name)
    if destination.exists() and not force:
        raise InvalidOptionError(f"model '{name}' is already installed ({destination}); --force replaces it")
    with stderr.status(f"converting {folder} and checking that whisper.cpp runs it"):
        convert(folder, destination, check=lambda path: _runs(path, settings))
    info(f"imported {folder} as {name}: {destination}")


def _runs(model: Path, settings: Settings) -> None:
    """Load the converted file in whisper.cpp and transcribe a generated second of audio with it."""
    import numpy as np  # numpy and the engine stack load only here, not with every command

    from whisper_api.audio import SAMPLE_RATE, DecodedAudio
    from whisper_api.core import Transcriber
    from whisper_api.engine.weights import STORED

    clip = DecodedAudio.from_array(0.1 * np.sin(np.linspace(0, 2 * np.pi * 440, SAMPLE_RATE)))
    try:  # the file itself is what must load, not a bf16 copy of it (weights = auto)
        with Transcriber(dataclasses.replace(settings, weights=STORED)) as transcriber:
            transcriber.transcribe(clip, TranscribeOptions(model=str(model), guard=False, vad=False))
    except WhisperApiError as exc:
        raise ModelImportError(f"the converted model does not run in whisper.cpp: {exc}") from exc


@app.command("quantize")
def quantize_model(
    name: Annotated[str, typer.Argument(help="An installed model: a name or a path to a .bin.")],
    kind: Annotated[str, typer.Option("--type", help="q8_0 (near-lossless, half of f16), q5_1, q5_0 or q4_0 "
                                                     "(a third of f16, more error), or bf16 (the size of f16; "
                                                     "fastest on CPUs with AVX512_BF16).")] = "q8_0",
    force: Annotated[bool, flag(help="Replace an installed model of the same name.")] = False,
) -> None:
    """Write a quantized copy of a model, named <model>-<type>, and check that whisper.cpp runs it."""
    from whisper_api.engine.quantize import quantize

    settings = load_settings()
    store = ModelStore(settings.models_dir)
    source = store.resolve(name)
    quantized = f"{display_name(name)}-{kind}"
    destination = store.path_for(quantized)
    if destination.exists() and not force:
        raise InvalidOptionError(f"model '{quantized}' is already installed ({destination}); --force replaces it")
    with stderr.status(f"quantizing {name} to {kind} and checking that whisper.cpp runs it"):
        quantize(source, destination, kind, settings.home, check=lambda path: _runs(path, settings))
    info(f"quantized {name} to {kind}: {quantized} ({_size(destination.stat().st_size)}, was "
         f"{_size(source.stat().st_size)}); use it with --model {quantized}")


@app.command("rm")
def remove(names: Annotated[list[str], typer.Argument(help="Installed model names.")]) -> None:
    """Delete installed models."""
    store = ModelStore(load_settings().models_dir)
    for name in names:
        info(f"removed {store.remove(name)}")


@app.command("path")
def path(name: Annotated[str, typer.Argument(help="A model name.")]) -> None:
    """Print the file of an installed model (for scripts)."""
    typer.echo(str(ModelStore(load_settings().models_dir).resolve(name)))
