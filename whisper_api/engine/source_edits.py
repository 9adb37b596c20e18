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

EDITS = (
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
    Edit("ggml/src/ggml-cpu/common.h", "#define GGML_FA_TILE_Q  64\n", "#define GGML_FA_TILE_Q  512\n"),
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
)


def digest() -> str:
    """Identifies the edits, for the keys of cached builds."""
    return hashlib.sha256(json.dumps([asdict(edit) for edit in EDITS]).encode()).hexdigest()[:16]


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
