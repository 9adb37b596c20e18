"""Changes made to the pinned whisper.cpp source before whisper-api builds it (whisper-cli and the
in-process binding); the published pywhispercpp wheels run it unchanged.

Each edit replaces one passage that must occur exactly once, so a new pin whose source moved
fails the build with a message instead of building something else.

**Logits for a prompt's last token only.** whisper.cpp conditions each 30 s window on up to 224
tokens of the text before it, decoded as one batch, and its decoder then multiplies every one of
those positions by the vocabulary matrix (51,864 x 384 for tiny) though only the last position's
scores are read. That is about 8 GFLOP per window, most of the prompt's time. When a batch asks
for its last token's logits alone (a prompt), the graph now computes that row alone; batches that
ask for several rows (beam search, several samples) are untouched. Transcripts stay byte for byte
the same; prompts take half the time, and the decoder's compute buffer, sized for the logits of a
448-token prompt, shrinks by about 90 MB for tiny.en (docs/engines.md, docs/benchmarks.md).

**Attention in tiles of 512 queries instead of 64.** ggml's CPU flash attention converts every key
and value of a head from f16 to f32 again for each tile of queries: 24 times per head for the
encoder's 1,500 positions. Tiles of 512 rows convert them 3 times. The tile's matrix products now
run on its valid rows only, so a short tile (a prompt of 100 tokens) costs what it did, and the
tiled path still starts at 64 queries. Transcripts stay byte for byte the same; an encoder window
takes about 12 % less time, prompts about 11 % less. (ggml's SpacemiT RISC-V kernels read the same
tile size; whisper-api does not build them.)

**A cheaper spectrogram.** whisper.cpp's FFT ends in 16 plain DFTs of 25 points per frame, and each of
their 625 terms found its angle with an integer division; the index now advances by one addition. The
mel filters weight narrow bands of the 201 bins, and each frame summed all 80 x 201 products; the sums
now skip the groups of four bins whose weights are all zero. The log-mel spectrogram of the 4-minute
passage takes 0.29 s instead of 0.71 s with 1 thread (3.7 % of the whole transcription), and
whisper-api's transcripts of the passage and of bench/peers.py's 10-minute file stay byte for byte
the same.

**GELU in f32 through ggml's vectorised silu.** ggml computed the MLPs' GELU one value at a time from
a table of 16-bit results (the input converted to f16, looked up, the output widened back): 2.5 % of
whisper-cli's CPU time on the 4-minute passage, 83 million values for the encoder's nine windows. The same
tanh form of GELU equals x sigmoid(z), z = k x (1 + a x^2), which is silu(z) divided by z / x, so ggml's
vectorised silu (its exp eight lanes at a time) computes it, in f32. GELU left the profile (0.4 %), an
encoder window took 4 % less (median of 5: 915 against 953 ms, 1 thread, AVX2), and the passage's
transcript stayed byte for byte the same.

**The encoder's keys and values stored head by head.** For every token, each decoder layer attends
to the encoder's 1,500 positions, once per head, and whisper.cpp kept those keys and values position
by position: a head's 64 values of one position, then the other heads', so one head's pass read 128
bytes out of every 768 and the memory prefetchers did not keep up. The copy made after each encoder
window now writes each head's positions one after another, and the decoder reads them so: a token's
step takes 10 ms instead of 17 on the 4-minute passage (tiny.en, 1 thread, AVX2), the whole
transcription 26 % less CPU time, and the transcript stays byte for byte the same.

**The decoder attends to the window's positions only.** The keys and values are stored padded to a
multiple of 256 positions (1,536 for a full window), and the decoder attended to the padding too.
Nothing ever clears it: after a window with a shorter context (a short clip, a live final), it held
that window's keys and values, so the next transcription attended to stale positions, and the same
audio gave different words depending on what the process had transcribed before (the 4-minute
passage with the decoder quantized: 5.8 % errors alone, 6.5 % after the dev set's short clips).
The decoder now reads the window's own positions (ggml's CPU attention needs no padding).

**The decoder's weights quantized as they load, when asked.** The decoder runs once per token on a
single position, so each of its matrix products reads every weight once for a few multiplications
and waits on memory; the encoder multiplies 1,500 positions by each weight and is bound by
arithmetic, which ggml does fastest in f16 or bf16. A new context parameter, ``decoder_type`` (a ggml
type; -1, the default, keeps the file's), has the loader quantize the decoder's float matrices, the
token embedding included, as it reads them (the cross-attention's keys and values, which multiply
the encoder's output, stay as stored), so an f16 or bf16 model runs its encoder as stored and its
decoder from half the bytes (q8_0). Each matrix is handed to ggml whole, as its repacking buffers (q8_0 on
ARM CPUs with dot-product instructions) require. The binding exposes the parameter to Python; whisper-cli
keeps the default.

**Every call samples alike.** When a window's text looks degenerate whisper.cpp decodes it again at
a higher temperature, drawing tokens from a random generator. The extra candidates' generators were
seeded afresh for each call, the first candidate's only once per state, so a window decoded again
could get different words depending on what the process had transcribed before. It is now seeded
afresh for each call as well.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from whisper_api.errors import EngineError


@dataclass(frozen=True)
class Edit:
    path: str
    """The file, relative to the whisper.cpp folder."""
    before: str
    after: str


_LAST_LOGITS_ONLY = '''// true when a batch of several tokens asks for the logits of its last token alone (a prompt)
static bool whisper_batch_wants_last_logits_only(const whisper_batch & batch) {
    if (batch.n_tokens < 2 || batch.logits[batch.n_tokens - 1] == 0) {
        return false;
    }
    for (int i = 0; i < batch.n_tokens - 1; ++i) {
        if (batch.logits[i] != 0) {
            return false;
        }
    }
    return true;
}

static struct ggml_cgraph * whisper_build_graph_decoder('''

_MEL_BANDS = """    // each mel filter weights a narrow band of the bins: the sums below take the groups of four bins
    // that hold a weight, [band_begin, band_end), and skip the others, which added zeros
    const int n_grouped = n_fft >= 3 ? n_fft/4*4 : 0;  // the bins the groups of four cover
    std::vector<int> band_begin(mel.n_mel, 0), band_end(mel.n_mel, 0);
    for (int j = 0; j < mel.n_mel; j++) {
        for (int k = 0; k < n_grouped; k += 4) {
            const float * w = filters.data.data() + j*n_fft + k;
            if (w[0] != 0.0f || w[1] != 0.0f || w[2] != 0.0f || w[3] != 0.0f) {
                band_begin[j] = band_end[j] == 0 ? k : band_begin[j];
                band_end[j] = k + 4;
            }
        }
    }
"""

_LOAD_QUANTIZED = """// whisper-api: reads a matrix the file stores as 16-bit floats into a tensor of the quantized
// type it was made with (decoder_type), some rows at a time with ggml's CPU kernels; false for any
// other pair of types. The tensor is set whole, once: ggml's repacking buffers (q8_0 on ARM CPUs with
// dot-product instructions, q4_0 on AVX2) accept nothing less.
static bool whisper_load_quantized(whisper_model_loader * loader, ggml_tensor * tensor, ggml_type stored) {
    const ggml_from_float_t quantize = ggml_get_type_traits_cpu(tensor->type)->from_float;
    if (!ggml_is_quantized(tensor->type) || !quantize || (stored != GGML_TYPE_F16 && stored != GGML_TYPE_BF16)) {
        return false;
    }
    const int64_t n_per_row = tensor->ne[0];
    const int64_t n_rows    = ggml_nrows(tensor);
    const size_t  row_size  = ggml_row_size(tensor->type, n_per_row);
    const int64_t chunk     = std::max<int64_t>(1, (1 << 18)/n_per_row);  // rows of about a million bytes
    std::vector<uint16_t> half(chunk*n_per_row);
    std::vector<float> values(chunk*n_per_row);
    std::vector<char> quantized(row_size*n_rows);
    for (int64_t row = 0; row < n_rows; row += chunk) {
        const int64_t n = std::min(chunk, n_rows - row)*n_per_row;
        loader->read(loader->context, half.data(), n*sizeof(uint16_t));
        if (stored == GGML_TYPE_F16) {
            ggml_cpu_fp16_to_fp32((const ggml_fp16_t *) half.data(), values.data(), n);
        } else {
            ggml_cpu_bf16_to_fp32((const ggml_bf16_t *) half.data(), values.data(), n);
        }
        quantize(values.data(), quantized.data() + row_size*row, n);
    }
    ggml_backend_tensor_set(tensor, quantized.data(), 0, quantized.size());
    return true;
}

"""

_DECODER_TYPE = """
    // whisper-api: the type of the decoder's weight matrices: decoder_type for a 16-bit float model
    const bool quantize_decoder = wctx.params.decoder_type >= 0
                                  && (wtype == GGML_TYPE_F16 || wtype == GGML_TYPE_BF16);
    const ggml_type dtype = quantize_decoder ? ggml_type(wctx.params.decoder_type) : wtype;
    if (quantize_decoder && (dtype >= GGML_TYPE_COUNT || !ggml_is_quantized(dtype)
                             || ggml_quantize_requires_imatrix(dtype)
                             || model.hparams.n_text_state % ggml_blck_size(dtype) != 0)) {
        WHISPER_LOG_ERROR("%s: the decoder cannot be quantized to type %d\\n", __func__, wctx.params.decoder_type);
        return false;
    }
"""

_QUANTIZED_ON_LOAD = """
            // whisper-api: a decoder matrix to quantize (decoder_type)
            if (tensor->type != ggml_type(ttype)) {
                if (!whisper_load_quantized(loader, tensor, ggml_type(ttype))) {
                    WHISPER_LOG_ERROR("%s: tensor '%s' is of type %d in the model file, not %s\\n",
                            __func__, name.data(), ttype, ggml_type_name(tensor->type));
                    return false;
                }
                total_size += ggml_nbytes(tensor);
                model.n_loaded++;
                continue;
            }
"""

_GELU_TABLE = """inline static void ggml_vec_gelu_f32(const int n, float * y, const float * x) {
    uint16_t t;
    for (int i = 0; i < n; ++i) {
        if (x[i] <= -10.0f) {
            y[i] = 0.0f;
        } else if (x[i] >= 10.0f) {
            y[i] = x[i];
        } else {
            ggml_fp16_t fp16 = GGML_CPU_FP32_TO_FP16(x[i]);
            memcpy(&t, &fp16, sizeof(uint16_t));
            y[i] = GGML_CPU_FP16_TO_FP32(ggml_table_gelu_f16[t]);
        }
    }
}
"""

_GELU_VECTORISED = """\
// whisper-api: ggml_gelu_f32 through ggml's vectorised silu, in f32, instead of a table of 16-bit values
// read one at a time: gelu(x) = x sigmoid(z) = silu(z) / (z / x), z = k x (1 + a x^2), k = 2 sqrt(2/pi).
// z / x is at least k, so nothing divides by zero; y may be x.
inline static void ggml_vec_gelu_f32(const int n, float * y, const float * x) {
    float ratio[256];  // z / x
    for (int first = 0; first < n; first += 256) {
        const int count = MIN(256, n - first);
        for (int i = 0; i < count; ++i) {
            const float v = x[first + i];
            ratio[i] = 2.0f*SQRT_2_OVER_PI*(1.0f + GELU_COEF_A*v*v);
            y[first + i] = v*ratio[i];
        }
        ggml_vec_silu_f32(count, y + first, y + first);
        for (int i = 0; i < count; ++i) {
            y[first + i] /= ratio[i];
        }
    }
}
"""

_MODEL_LOAD = "static bool whisper_model_load(struct whisper_model_loader * loader, whisper_context & wctx) {\n"
_SHAPE_CHECKED = "ne[0], ne[1], ne[2]);\n                return false;\n            }\n"

# The decoder's weight matrices, made in the type ``decoder_type`` asks for (the cross-attention's keys and
# values are products of the encoder's output: they stay as stored).
_DECODER_MATRICES = (
    ("model.d_te", "ASR_TENSOR_DEC_TOKEN_EMBD_WEIGHT", "ASR_SYSTEM_DECODER"),
    *((f"layer.{name}", tensor, "ASR_SYSTEM_DECODER") for name, tensor in (
        ("mlp_0_w", "ASR_TENSOR_MLP_0_WEIGHT"), ("mlp_1_w", "ASR_TENSOR_MLP_2_WEIGHT"),
        ("attn_q_w", "ASR_TENSOR_ATTN_QUERY_WEIGHT"), ("attn_k_w", "ASR_TENSOR_ATTN_KEY_WEIGHT"),
        ("attn_v_w", "ASR_TENSOR_ATTN_VALUE_WEIGHT"), ("attn_ln_1_w", "ASR_TENSOR_ATTN_OUT_WEIGHT"))),
    ("layer.cross_attn_q_w", "ASR_TENSOR_ATTN_QUERY_WEIGHT", "ASR_SYSTEM_CROSS"),
    ("layer.cross_attn_ln_1_w", "ASR_TENSOR_ATTN_OUT_WEIGHT", "ASR_SYSTEM_CROSS"),
)

EDITS = (
    Edit("src/whisper.cpp", '#include "ggml-backend.h"\n', '#include "ggml-backend.h"\n#include "ggml-cpu.h"\n'),
    Edit("src/whisper.cpp", "static struct ggml_cgraph * whisper_build_graph_decoder(", _LAST_LOGITS_ONLY),
    Edit("src/whisper.cpp",
         "    //cur = ggml_view_2d(ctx0, cur, cur->ne[0], 1, cur->nb[1], (cur->ne[1] - 1)*cur->nb[1]);\n",
         "    if (whisper_batch_wants_last_logits_only(batch)) {\n"
         "        cur = ggml_view_2d(ctx0, cur, cur->ne[0], 1, cur->nb[1], (cur->ne[1] - 1)*cur->nb[1]);\n"
         "    }\n"),
    Edit("src/whisper.cpp",
         "        ggml_backend_tensor_get(logits, logits_out.data() + (n_vocab*i), sizeof(float)*(n_vocab*i), "
         "sizeof(float)*n_vocab);\n",
         "        const int row = whisper_batch_wants_last_logits_only(batch) ? 0 : i;  // the graph's only row\n"
         "        ggml_backend_tensor_get(logits, logits_out.data() + (n_vocab*i), sizeof(float)*(n_vocab*row), "
         "sizeof(float)*n_vocab);\n"),
    Edit("src/whisper.cpp",
         "        for (int n = 0; n < N; n++) {\n"
         "            int idx = (k * n * sin_cos_step) % (SIN_COS_N_COUNT); // t = 2*M_PI*k*n/N\n",
         "        const int idx_step = k * sin_cos_step;  // below SIN_COS_N_COUNT, so one subtraction wraps\n"
         "        for (int n = 0, idx = 0; n < N;\n"
         "             n++, idx += idx >= SIN_COS_N_COUNT - idx_step ? idx_step - SIN_COS_N_COUNT : idx_step) {\n"),
    Edit("src/whisper.cpp", "    int n_fft = filters.n_fft;\n", "    int n_fft = filters.n_fft;\n" + _MEL_BANDS),
    Edit("src/whisper.cpp", "            for (k = 0; k < n_fft - 3; k += 4) {\n",
         "            for (k = band_begin[j]; k < band_end[j]; k += 4) {\n"),
    Edit("src/whisper.cpp", "            for (; k < n_fft; k++) {\n",
         "            for (k = n_grouped; k < n_fft; k++) {\n"),
    *(Edit("src/whisper.cpp",
           f"            {kv} = ggml_view_1d(ctx0, wstate.kv_cross.{kv}, n_state*n_ctx,\n"
           f"                    (ggml_element_size(wstate.kv_cross.{kv})*n_state)*(il*n_ctx_pad));\n",
           f"            {name}cross = ggml_permute(ctx0, "
           f"ggml_reshape_3d(ctx0, {name}cross, n_state_head, n_head, n_ctx), 0, 2, 1, 3);\n"
           f"            {kv} = ggml_view_3d(ctx0, wstate.kv_cross.{kv}, n_state_head, n_ctx, n_head,\n"
           f"                    ggml_element_size(wstate.kv_cross.{kv})*n_state_head,\n"
           f"                    ggml_element_size(wstate.kv_cross.{kv})*n_state_head*n_ctx_pad,\n"
           f"                    (ggml_element_size(wstate.kv_cross.{kv})*n_state)*(il*n_ctx_pad));\n")
      for kv, name in (("k", "K"), ("v", "V"))),
    *(Edit("src/whisper.cpp",
           "                            n_state_head, n_audio_ctx_pad, n_head,\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state,\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state_head,\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state*n_audio_ctx_pad*il);\n",
           "                            n_state_head, n_audio_ctx, n_head,  // this window's positions only\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state_head,\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state_head*n_audio_ctx_pad,\n"
           f"                            ggml_element_size(wstate.kv_cross.{kv})*n_state*n_audio_ctx_pad*il);\n")
      for kv in ("k", "v")),
    Edit("ggml/src/ggml-cpu/common.h", "#define GGML_FA_TILE_Q  64\n", "#define GGML_FA_TILE_Q  512\n"),
    Edit("ggml/src/ggml-cpu/vec.h", _GELU_TABLE, _GELU_VECTORISED),
    Edit("ggml/src/ggml-cpu/ops.cpp",
         "            memset(KQ, 0, Q_TILE_SZ * KV_TILE_SZ * sizeof(float));\n"
         "            simd_gemm(KQ, (const float *)Q_q, K_f32, Q_TILE_SZ, DK, KV_TILE_SZ);\n"
         "            ggml_vec_scale_f32(Q_TILE_SZ * KV_TILE_SZ, KQ, scale);\n",
         "            memset(KQ, 0, tile_rows * KV_TILE_SZ * sizeof(float));\n"
         "            simd_gemm(KQ, (const float *)Q_q, K_f32, tile_rows, DK, KV_TILE_SZ);\n"
         "            ggml_vec_scale_f32(tile_rows * KV_TILE_SZ, KQ, scale);\n"),
    Edit("ggml/src/ggml-cpu/ops.cpp",
         "            for (int tq = 0; tq < Q_TILE_SZ; tq++) {\n"
         "                float * kq_row = KQ + tq * KV_TILE_SZ;\n",
         "            for (int tq = 0; tq < tile_rows; tq++) {\n"
         "                float * kq_row = KQ + tq * KV_TILE_SZ;\n"),
    Edit("ggml/src/ggml-cpu/ops.cpp",
         "            simd_gemm(VKQ32, KQ, V32, Q_TILE_SZ, KV_TILE_SZ, DV);\n",
         "            simd_gemm(VKQ32, KQ, V32, tile_rows, KV_TILE_SZ, DV);\n"),
    Edit("ggml/src/ggml-cpu/ops.cpp", "                                neq1 >= Q_TILE_SZ);\n",
         "                                neq1 >= GGML_FA_TILE_KV);  // tiled from 64 queries, as before\n"),
    Edit("include/whisper.h", "        size_t dtw_mem_size; // TODO: remove\n",
         "        size_t dtw_mem_size; // TODO: remove\n\n"
         "        // whisper-api: a ggml_type for the decoder's weight matrices, quantized from a 16-bit float\n"
         "        // model's as they load; -1: as the file stores them\n"
         "        int decoder_type;\n"),
    Edit("src/whisper.cpp", "        /*.dtw_mem_size         =*/ 1024*1024*128,\n",
         "        /*.dtw_mem_size         =*/ 1024*1024*128,\n"
         "        /*.decoder_type         =*/ -1,\n"),
    Edit("src/whisper.cpp", _MODEL_LOAD, _LOAD_QUANTIZED + _MODEL_LOAD),
    Edit("src/whisper.cpp",
         "    const ggml_type vtype = wctx.wtype == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16; // conv type\n",
         "    const ggml_type vtype = wctx.wtype == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16; // conv type\n"
         + _DECODER_TYPE),
    *(Edit("src/whisper.cpp", f"{field} = create_tensor({tensor}, {system}, ggml_new_tensor_2d(ctx, wtype,",
           f"{field} = create_tensor({tensor}, {system}, ggml_new_tensor_2d(ctx, dtype,")
      for field, tensor, system in _DECODER_MATRICES),
    Edit("src/whisper.cpp", "    // TAGS: WHISPER_DECODER_INIT\n    for (int j = 1; j < n_decoders; j++) {\n",
         "    // TAGS: WHISPER_DECODER_INIT\n"
         "    state->decoders[0].rng = std::mt19937(0);  // whisper-api: as the others, whatever ran before\n"
         "    for (int j = 1; j < n_decoders; j++) {\n"),
    # after the model loader's shape check (the VAD model's loader returns nullptr)
    Edit("src/whisper.cpp", _SHAPE_CHECKED, _SHAPE_CHECKED + _QUANTIZED_ON_LOAD),
)

BINDING_EDITS = (
    Edit("src/main.cpp", "            .def_readwrite(\"dtw_mem_size\", &whisper_context_params::dtw_mem_size);\n",
         "            .def_readwrite(\"dtw_mem_size\", &whisper_context_params::dtw_mem_size)\n"
         "            .def_readwrite(\"decoder_type\", &whisper_context_params::decoder_type);\n"),
)
"""Edits of the binding's own source (pywhispercpp's, around the whisper.cpp folder): it exposes the new
context parameter to Python."""


def digest() -> str:
    """Identifies the edits, for the keys of cached builds."""
    return hashlib.sha256(json.dumps([asdict(edit) for edit in EDITS + BINDING_EDITS]).encode()).hexdigest()[:16]


def apply_edits(whisper_cpp: Path, edits: tuple[Edit, ...] = EDITS) -> None:
    """Make every edit in the whisper.cpp tree at ``whisper_cpp``."""
    for edit in edits:
        file = whisper_cpp / edit.path
        text = file.read_text(encoding="utf-8")
        found = text.count(edit.before)
        if found != 1:
            raise EngineError(f"cannot patch whisper.cpp's {edit.path}: the passage to change occurs {found} times, "
                              "not once (a different whisper.cpp version?)")
        file.write_text(text.replace(edit.before, edit.after), encoding="utf-8")
