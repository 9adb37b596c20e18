"""Model files: the catalogue of official models, the local store, and downloads.

Downloads live in ``whisper_api.models.download`` and are imported only where used, so a
command that only transcribes does not pay for importing the HTTP client.
"""

from whisper_api.models.catalogue import MODELS, SPEAKER_ENCODER, VAD_MODEL, CatalogueModel, catalogue_model
from whisper_api.models.store import InstalledModel, ModelStore

__all__ = [
    "MODELS", "SPEAKER_ENCODER", "VAD_MODEL", "CatalogueModel", "InstalledModel", "ModelStore", "catalogue_model",
]
