#!/usr/bin/env python3
"""Live finals: encoder context against accuracy and cost, on real speech.

Streams each clip of ../shared/data/asr-dev's English sets through the core live engine in-process
(the one the /v1/listen WebSocket runs), linear16 fed as fast as it takes it, and scores the finals
as bench/accuracy.py does: for each floor of the finals' encoder context (whisper.cpp frames, 1500 =
30 s), WER % and RTF per set. Interims are off: only finals are scored.

usage: bench/live_context.py [--model tiny.en] [--threads 2] [--floors 0 500 768 1000 1500]
"""

from __future__ import annotations

import argparse
import asyncio

import numpy as np
from accuracy import MODELS, Transcribe, ensure_models, load_clips, score

from whisper_api.core import Transcriber
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings
from whisper_api.streaming import live
from whisper_api.streaming.channel import DecodeJob
from whisper_api.streaming.decoders import open_decoder
from whisper_api.streaming.events import StreamEvent, StreamOptions, StreamResult
from whisper_api.streaming.live import LiveStream, transcribe_job
from whisper_api.streaming.vad import vad_model_path
from whisper_api.transcript import Word


def finals(transcriber: Transcriber, model: str) -> Transcribe:
    def run(samples: np.ndarray, language: str) -> str:
        return asyncio.run(_stream(transcriber, TranscribeOptions(model=model, language=language), samples))

    return run


async def _stream(transcriber: Transcriber, options: TranscribeOptions, samples: np.ndarray) -> str:
    texts: list[str] = []

    async def emit(event: StreamEvent) -> None:
        if isinstance(event, StreamResult) and event.is_final:
            texts.append(" ".join(word.text for word in event.words))

    async def decode(job: DecodeJob) -> tuple[Word, ...]:
        return await asyncio.to_thread(transcribe_job, transcriber, job, options)

    stream = LiveStream(open_decoder("linear16", 16000, 1, True), StreamOptions(transcribe=options),
                        vad_model_path(transcriber.models), decode, emit)
    runner = asyncio.create_task(stream.run())
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    for start in range(0, len(pcm), 6400):
        await stream.feed(pcm[start:start + 6400])
    await stream.end()
    await runner
    stream.close()
    return " ".join(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--floors", nargs="+", type=int, default=[0, 500, 768, 1000, 1500])
    args = parser.parse_args()
    ensure_models(MODELS, [args.model])
    clips = load_clips(["short", "long", "conversational"])
    transcriber = Transcriber(load_settings({"models_dir": str(MODELS), "threads": args.threads}))
    print("| finals' context floor | short | long | conversational |\n|---|---|---|---|")
    for floor in args.floors:
        live.FINAL_CONTEXT_FLOOR = floor  # transcribe_job reads it at each final
        scores = score(finals(transcriber, args.model), clips)
        cells = " | ".join(f"{scores[name].wer:.1f} ({scores[name].rtf:.3f})" for name in
                           ("short", "long", "conversational"))
        print(f"| {floor} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
