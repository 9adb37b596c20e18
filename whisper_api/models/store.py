"""Where models live on disk, and how a ``--model`` value becomes a file."""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from whisper_api.errors import ModelNotFoundError
from whisper_api.models.catalogue import (
    BY_NAME,
    KNOWN_NAMES,
    SPEAKER_ENCODER,
    SPEAKER_ENCODER_FILENAME,
    SPEAKER_ENCODER_LICENSE,
    SPEAKER_SEGMENTATION_FILENAME,
    CatalogueModel,
)

FILE_PREFIX, FILE_SUFFIX = "ggml-", ".bin"
BF16_FOLDER = ".bf16"
"""Beside a model, the folder of the bf16 copy the native engine may run instead (engine.weights)."""
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
"""What a model's name may look like (a request's ``model``, an imported model's ``--name``)."""


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size: int
    catalogue: CatalogueModel | None


def bf16_copy_path(model: Path) -> Path:
    """Where the bf16 copy of ``model`` (a link followed to its file) lives."""
    source = model.resolve()
    return source.parent / BF16_FOLDER / source.name


def part_affixes(copy: Path) -> tuple[str, str]:
    """The prefix and suffix of the temporary file a copy is written to before it takes its name:
    ``.<name>.<random>.part`` beside it, so ``models rm`` finds what a killed process left."""
    return f".{copy.name}.", ".part"


def looks_like_path(spec: str) -> bool:
    return spec.endswith(FILE_SUFFIX) or "/" in spec or "\\" in spec or spec.startswith(("~", "."))


def display_name(spec: str) -> str:
    """How a model is named to others: a path becomes its file's name without ``ggml-`` and ``.bin``, so
    no server path reaches a response."""
    if not looks_like_path(spec):
        return spec
    return Path(spec).name.removeprefix(FILE_PREFIX).removesuffix(FILE_SUFFIX)


class ModelStore:
    """The models folder: catalogue models as ``ggml-<name>.bin``, plus any other ``ggml-*.bin``."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    def path_for(self, name: str) -> Path:
        if name == SPEAKER_ENCODER:
            return self.models_dir / SPEAKER_ENCODER_FILENAME
        entry = BY_NAME.get(name)
        filename = entry.filename if entry else f"{FILE_PREFIX}{name}{FILE_SUFFIX}"
        return self.models_dir / filename

    def installed(self) -> list[InstalledModel]:
        if not self.models_dir.is_dir():
            return []
        by_filename = {entry.filename: entry for entry in BY_NAME.values()}
        found = []
        for path in sorted(self.models_dir.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
            entry = by_filename.get(path.name)
            name = entry.name if entry else path.name[len(FILE_PREFIX):-len(FILE_SUFFIX)]
            found.append(InstalledModel(name, path, path.stat().st_size, entry))
        return found

    def resolve(self, spec: str) -> Path:
        """The model file for a name or path, or a one-line error saying how to get it."""
        if looks_like_path(spec):
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelNotFoundError(f"model file not found: {path}")
            return path
        path = self.path_for(spec)
        if path.is_file():
            return path
        if spec in KNOWN_NAMES:
            raise ModelNotFoundError(
                f"model '{spec}' is not installed; fetch it with: whisper-api models download {spec}"
            )
        raise ModelNotFoundError(f"unknown model '{spec}'{self._suggestion(spec)}; see: whisper-api models list")

    def remove(self, name: str) -> Path:
        path = self.path_for(name)
        if not path.is_file():
            raise ModelNotFoundError(f"model '{name}' is not installed in {self.models_dir}")
        copy = bf16_copy_path(path)
        with contextlib.suppress(OSError):  # a copy that cannot be removed must not keep the model
            prefix, suffix = part_affixes(copy)
            for made in (copy, *copy.parent.glob(f"{prefix}*{suffix}")):  # and any a killed process left
                made.unlink(missing_ok=True)
        path.unlink()
        if name == SPEAKER_ENCODER:
            for companion in (SPEAKER_ENCODER_LICENSE, SPEAKER_SEGMENTATION_FILENAME):
                path.with_name(companion).unlink(missing_ok=True)
        return path

    def _suggestion(self, spec: str) -> str:
        names = list(KNOWN_NAMES) + [model.name for model in self.installed()]
        close = difflib.get_close_matches(spec, names, n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""
