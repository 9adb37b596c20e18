"""Model names as Deepgram clients send them, and the model records the API reports.

Deepgram names (``nova-3``, ``nova-2-meeting``, ``base``, ``general``, ...) all mean the
server's default Whisper model, so existing integrations work unchanged. A Whisper name
(``small``, ``large-v3-turbo``, ``base.en``) or Deepgram's own ``whisper-<size>`` names select
that model when it is installed.
"""

from __future__ import annotations

from whisper_api.errors import ModelNotFoundError
from whisper_api.models import ModelStore, catalogue_model
from whisper_api.models.store import MODEL_NAME, looks_like_path
from whisper_api.server.errors import NO_MODEL, bad_request

DEEPGRAM_FAMILIES = ("nova-3", "nova-2", "nova", "enhanced", "base", "general", "meeting", "phonecall", "finance",
                     "conversationalai", "voicemail", "video", "medical", "drivethru", "automotive", "custom")
DEEPGRAM_WHISPER = {"large": "large-v3"}
"""Deepgram's hosted ``whisper-<size>`` names whose size is not a whisper.cpp model name."""


def whisper_name(requested: str | None, default: str, store: ModelStore) -> str:
    """The Whisper model a request's ``model`` parameter means (400 when it means none here)."""
    if not requested:
        return default
    name = requested.strip()
    if not MODEL_NAME.fullmatch(name) or looks_like_path(name.removeprefix("whisper-")):  # names, never files
        raise bad_request(f"{NO_MODEL} (a model name is at most 100 letters, digits and . _ + -)")
    if name.lower().startswith("whisper-"):
        size = name[len("whisper-"):]
        return _installed(DEEPGRAM_WHISPER.get(size, size), store)
    if name not in DEEPGRAM_FAMILIES and (catalogue_model(name) or store.path_for(name).is_file()):
        return _installed(name, store)
    if any(name == family or name.startswith(family + "-") for family in DEEPGRAM_FAMILIES):
        return default
    raise bad_request(NO_MODEL)


def _installed(name: str, store: ModelStore) -> str:
    try:
        store.resolve(name)
    except ModelNotFoundError:
        raise bad_request(f"{NO_MODEL} (model '{name}' is not installed on this server)") from None
    return name
