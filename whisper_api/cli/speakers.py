"""The speaker options ``transcribe --diarize`` and ``diarize`` share, and the models they need."""

from __future__ import annotations

from typing import Annotated

import typer

from whisper_api.cli.downloads import download_with_progress, install_speaker_encoder_with_status
from whisper_api.models import SPEAKER_ENCODER, VAD_MODEL, ModelStore, catalogue_model
from whisper_api.options import DiarizeOptions, SpeakerCount
from whisper_api.settings import Settings

Speakers = Annotated[int | None, typer.Option("--speakers", min=1, help="The number of speakers, when known.")]
MinSpeakers = Annotated[int | None, typer.Option("--min-speakers", min=1, help="At least this many speakers.")]
MaxSpeakers = Annotated[int | None, typer.Option("--max-speakers", min=1, help="At most this many speakers.")]
Mode = Annotated[str, typer.Option(
    "--diarize-mode", help="speaker: tell voices apart; channel: one speaker per channel (stereo calls).")]


def diarize_options(mode: str, speakers: int | None, minimum: int | None, maximum: int | None) -> DiarizeOptions:
    return DiarizeOptions(mode, SpeakerCount(speakers, minimum, maximum))


def ensure_diarization_models(settings: Settings, options: DiarizeOptions) -> None:
    """Fetch the speaker encoder and the VAD when downloads are on (without them diarization
    fails, or finds speech by loudness and says so in its warnings), once diarization can run at all."""
    from whisper_api.core import require_diarization  # the engine stack: only when diarizing (fast --help)

    require_diarization()
    store = ModelStore(settings.models_dir)
    if options.mode == "speaker" and settings.auto_download and not store.path_for(SPEAKER_ENCODER).is_file():
        install_speaker_encoder_with_status(settings)
    entry = catalogue_model(VAD_MODEL)
    if settings.auto_download and entry is not None and not store.path_for(VAD_MODEL).is_file():
        download_with_progress(entry, settings)
