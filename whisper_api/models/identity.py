"""A model's identity as APIs report it: name, version and a UUID stable across restarts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from whisper_api.models.catalogue import catalogue_model
from whisper_api.models.ggml import read_header
from whisper_api.models.store import ModelStore, display_name

_NAMESPACE = uuid.UUID("6f1bd0c9-2a8e-4d5e-9a47-5cf8d7a1e2b3")


@dataclass(frozen=True)
class ModelRecord:
    name: str
    path: Path
    uuid: str
    version: str
    multilingual: bool


def record(name: str, store: ModelStore) -> ModelRecord:
    """A stable identity for a model: the same name and file contents give the same UUID."""
    path = store.resolve(name)
    entry = catalogue_model(name)
    version = entry.sha256[:12] if entry else f"local-{path.stat().st_size}"
    model_uuid = str(uuid.uuid5(_NAMESPACE, f"{name}:{version}"))
    return ModelRecord(display_name(name), path, model_uuid, version, read_header(path).multilingual)
