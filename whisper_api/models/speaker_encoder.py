"""The diarization voice encoder: fetched from the resemblyzer wheel, converted to numpy once.

resemblyzer (Apache-2.0) ships its pretrained GE2E voice encoder inside its wheel as a legacy
PyTorch checkpoint. The wheel is fetched with ``pip download`` (both the wheel and the checkpoint
are pinned by SHA-256), the checkpoint is read without torch, and the LSTM and linear weights are
written as ``speaker-encoder.npz`` with the package's licence beside them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from whisper_api.errors import ModelDownloadError
from whisper_api.models.catalogue import SPEAKER_ENCODER_FILENAME, SPEAKER_ENCODER_LICENSE
from whisper_api.models.packaged import Archive, PackagedFile, fetch_packaged, write_atomically
from whisper_api.models.torch_legacy import CheckpointError, load_checkpoint

RESEMBLYZER = PackagedFile(
    archive=Archive("resemblyzer", "0.1.4", "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"),
    member="resemblyzer/pretrained.pt",
    member_sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
)
RESEMBLYZER_LICENSE = "Resemblyzer-0.1.4.dist-info/LICENSE"
WEIGHT_PREFIXES = ("lstm.", "linear.")
"""The encoder's weights; the checkpoint also holds GE2E training-only values and optimizer state."""


def licence_path(models_dir: Path) -> Path:
    return models_dir / SPEAKER_ENCODER_LICENSE


def encoder_weights(checkpoint: bytes) -> dict[str, np.ndarray]:
    """The encoder's tensors from resemblyzer's checkpoint bytes, as float32 arrays."""
    try:
        state = load_checkpoint(io.BytesIO(checkpoint))["model_state"]
    except (CheckpointError, KeyError, TypeError) as exc:
        raise ModelDownloadError(f"cannot read the speaker encoder checkpoint: {exc}") from exc
    return {name: np.asarray(value, np.float32) for name, value in state.items() if name.startswith(WEIGHT_PREFIXES)}


def _notice(licence: str) -> str:
    return (f"speaker-encoder.npz holds the voice encoder weights of {RESEMBLYZER.requirement}\n"
            f"({RESEMBLYZER.member}, sha256 {RESEMBLYZER.member_sha256}),\n"
            "converted from PyTorch to numpy arrays without other changes. Its licence follows.\n\n" + licence)


def install_speaker_encoder(models_dir: Path) -> Path:
    """Fetch, convert and store the encoder; returns the ``.npz`` path."""
    members = fetch_packaged(RESEMBLYZER, RESEMBLYZER_LICENSE)
    weights = encoder_weights(members[RESEMBLYZER.member])
    buffer = io.BytesIO()
    np.savez(buffer, **weights)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    write_atomically(licence_path(models_dir), _notice(members[RESEMBLYZER_LICENSE].decode("utf-8")).encode())
    return write_atomically(models_dir / SPEAKER_ENCODER_FILENAME, buffer.getvalue())
