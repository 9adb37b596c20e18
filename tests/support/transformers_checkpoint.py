"""A Hugging Face transformers Whisper checkpoint made from a CTranslate2 one, for the import tests.

The same weights under transformers' names and layout (separate q/k/v projections, ``model.`` prefix,
``config.json``, ``vocab.json``, one ``model.safetensors``), written as that format lays them out: an
8-byte header length, a JSON index, then the raw little-endian tensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from whisper_api.models.convert import Ct2File, read_ct2


def _attention(model: Ct2File, source: str, target: str, cross: bool) -> dict[str, np.ndarray]:
    tensors = {f"{target}_layer_norm.weight": model[f"{source}/layer_norm/gamma"],
               f"{target}_layer_norm.bias": model[f"{source}/layer_norm/beta"]}
    if cross:
        q, q_bias = model[f"{source}/linear_0/weight"], model[f"{source}/linear_0/bias"]
        k, v = np.split(model[f"{source}/linear_1/weight"], 2)
        v_bias = np.split(model[f"{source}/linear_1/bias"], 2)[1]
        out = f"{source}/linear_2"
    else:
        q, k, v = np.split(model[f"{source}/linear_0/weight"], 3)
        q_bias, _, v_bias = np.split(model[f"{source}/linear_0/bias"], 3)
        out = f"{source}/linear_1"
    tensors.update({f"{target}.q_proj.weight": q, f"{target}.q_proj.bias": q_bias, f"{target}.k_proj.weight": k,
                    f"{target}.v_proj.weight": v, f"{target}.v_proj.bias": v_bias,
                    f"{target}.out_proj.weight": model[f"{out}/weight"],
                    f"{target}.out_proj.bias": model[f"{out}/bias"]})
    return tensors


def _layer(model: Ct2File, source: str, target: str, cross: bool) -> dict[str, np.ndarray]:
    tensors = _attention(model, f"{source}/self_attention", f"{target}.self_attn", cross=False)
    if cross:
        tensors |= _attention(model, f"{source}/attention", f"{target}.encoder_attn", cross=True)
    pairs = (("final_layer_norm.weight", "ffn/layer_norm/gamma"), ("final_layer_norm.bias", "ffn/layer_norm/beta"),
             ("fc1.weight", "ffn/linear_0/weight"), ("fc1.bias", "ffn/linear_0/bias"),
             ("fc2.weight", "ffn/linear_1/weight"), ("fc2.bias", "ffn/linear_1/bias"))
    for ours, theirs in pairs:
        tensors[f"{target}.{ours}"] = model[f"{source}/{theirs}"]
    return tensors


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str) -> None:
    index: dict[str, Any] = {}
    blobs, offset = [], 0
    for name, value in tensors.items():
        if dtype == "BF16":  # the top half of each float32: bfloat16, rounded toward zero
            blob = (np.asarray(value, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            blob = np.asarray(value, "<f2").tobytes()
        index[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header = json.dumps(index).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(header)) + header)
        for blob in blobs:
            out.write(blob)


def write_transformers_checkpoint(ct2: Path, folder: Path, dtype: str = "F16") -> Path:
    """``ct2``'s weights as a transformers checkpoint in ``folder`` (F16 keeps them bit for bit)."""
    checkpoint, model = read_ct2(ct2), Ct2File(ct2 / "model.bin")
    hyper = checkpoint.hyper
    tensors: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        tensors[f"model.encoder.{conv}.weight"] = model[f"encoder/{conv}/weight"]
        tensors[f"model.encoder.{conv}.bias"] = model[f"encoder/{conv}/bias"]
    tensors["model.encoder.embed_positions.weight"] = model["encoder/position_encodings/encodings"]
    for layer in range(hyper.n_audio_layer):
        tensors |= _layer(model, f"encoder/layer_{layer}", f"model.encoder.layers.{layer}", cross=False)
    tensors["model.encoder.layer_norm.weight"] = model["encoder/layer_norm/gamma"]
    tensors["model.encoder.layer_norm.bias"] = model["encoder/layer_norm/beta"]
    tensors["model.decoder.embed_tokens.weight"] = model["decoder/embeddings/weight"]
    tensors["model.decoder.embed_positions.weight"] = model["decoder/position_encodings/encodings"]
    for layer in range(hyper.n_text_layer):
        tensors |= _layer(model, f"decoder/layer_{layer}", f"model.decoder.layers.{layer}", cross=True)
    tensors["model.decoder.layer_norm.weight"] = model["decoder/layer_norm/gamma"]
    tensors["model.decoder.layer_norm.bias"] = model["decoder/layer_norm/beta"]
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", tensors, dtype)
    vocabulary = (ct2 / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    (folder / "vocab.json").write_text(json.dumps({token: index for index, token in enumerate(vocabulary)}))
    config = {"model_type": "whisper", "d_model": hyper.n_audio_state, "encoder_layers": hyper.n_audio_layer,
              "encoder_attention_heads": hyper.n_audio_head, "decoder_layers": hyper.n_text_layer,
              "decoder_attention_heads": hyper.n_text_head, "vocab_size": hyper.n_vocab,
              "num_mel_bins": hyper.n_mels, "max_source_positions": hyper.n_audio_ctx,
              "max_target_positions": hyper.n_text_ctx, "eos_token_id": vocabulary.index("<|endoftext|>")}
    (folder / "config.json").write_text(json.dumps(config))
    return folder
