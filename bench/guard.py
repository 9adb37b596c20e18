#!/usr/bin/env python3
"""What the hallucination guard keeps out, and what it costs.

The same real-size random-weight model (tiny by default: the compute per window is a real
model's, the words are noise) transcribes each clip with the guard off (the baseline: whisper
as it comes), with each part alone, and with the whole guard (the default). Printed per clip and
configuration: the words written and the median time, as a ratio to the baseline measured in the
same run. Clips: digital silence, white noise, ../shared's silence and jfk.wav, and jfk.wav with
20 s of silence on each side (speech with long pauses). The VAD is ../shared's Silero v6.2.0.

usage: bench/guard.py [--dims tiny] [--runs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from common import SHARED, random_model, timed

from whisper_api import DecodedAudio, TranscribeOptions, Transcriber
from whisper_api.audio import decode_file
from whisper_api.models import VAD_MODEL
from whisper_api.models.catalogue import BY_NAME
from whisper_api.settings import load_settings

RATE = 16000
CONFIGURATIONS = {
    "guard off": TranscribeOptions(guard=False),
    "VAD only": TranscribeOptions(guard=False, vad=True),
    "thresholds only": TranscribeOptions(vad=False, repetition_filter=False),
    "guard on": TranscribeOptions(),
}


def clips() -> dict[str, np.ndarray]:
    speech = decode_file(SHARED / "data" / "speech" / "jfk.wav").mono()
    pause = np.zeros(20 * RATE, np.float32)
    return {
        "2 s digital silence": np.zeros(2 * RATE, np.float32),
        "30 s white noise": (np.random.default_rng(0).standard_normal(30 * RATE) * 0.1).astype(np.float32),
        "silence-1s.wav": decode_file(SHARED / "data" / "speech" / "silence-1s.wav").mono(),
        "jfk.wav (11 s speech)": speech,
        "jfk.wav in 40 s of silence": np.concatenate([pause, speech, pause]),
    }


def measure(transcriber: Transcriber, audio: np.ndarray, options: TranscribeOptions, runs: int) -> tuple[int, float]:
    decoded = DecodedAudio.from_array(audio)
    words = len(list(transcriber.transcribe(decoded, options).words()))  # also the warm-up
    return words, statistics.median(timed(lambda: transcriber.transcribe(decoded, options)) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="tiny")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        models = Path(folder)
        model = random_model(args.dims, models)
        (models / BY_NAME[VAD_MODEL].filename).symlink_to(SHARED / "models" / "for-tests-silero-v6.2.0-ggml.bin")
        transcriber = Transcriber(load_settings({"models_dir": str(models), "model": str(model),
                                                 "threads": args.threads}))
        print(f"model: random {args.dims}, {args.threads} threads, median of {args.runs} runs; "
              "words written, seconds, time / guard off")
        print(f"{'clip':30}" + "".join(f"{name:>26}" for name in CONFIGURATIONS))
        for clip, audio in clips().items():
            results = [measure(transcriber, audio, options, args.runs) for options in CONFIGURATIONS.values()]
            baseline = results[0][1]
            cells = [f"{words:4d} w {seconds:6.2f} s {seconds / baseline:5.2f}x" for words, seconds in results]
            print(f"{clip:30}" + "".join(f"{cell:>26}" for cell in cells))


if __name__ == "__main__":
    main()
