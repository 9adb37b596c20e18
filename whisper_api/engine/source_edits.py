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
