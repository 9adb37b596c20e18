#!/usr/bin/env python3
"""Live finals: encoder context and endpointing against accuracy and cost, on real speech.

Streams each clip of ../shared/data/asr-dev's English sets through the core live engine in-process
(the one the /v1/listen WebSocket runs), linear16 fed as fast as it takes it, and scores the finals
as bench/accuracy.py does: for each floor of the finals' encoder context (whisper.cpp frames, 1500 =
30 s) at the default endpointing, then for each endpointing (the silence that ends an utterance),
WER % and RTF per set, and the mean decode time of a final (a final's latency after speech ends is
the endpointing plus that).
Interims are off: only finals are scored.

usage: bench/live_context.py [--model tiny.en] [--threads 2] [--floors 0 500 768 1000 1500]
                             [--endpointing 0.25 0.5 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
from accuracy import MODELS, Clip, Transcribe, ensure_models, load_clips, score

from whisper_api.core import Transcriber
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings
from whisper_api.streaming import live
from whisper_api.streaming.channel import DecodeJob
from whisper_api.streaming.decoders import open_decoder
from whisper_api.streaming.events import DEFAULT_ENDPOINTING, StreamEvent, StreamOptions, StreamResult
from whisper_api.streaming.live import Work
from whisper_api.transcript import Word


def finals(transcriber: Transcriber, model: str, endpointing: float, decode_seconds: list[float]) -> Transcribe:
    """Streams a clip; appends each final's decode time to ``decode_seconds``."""
    def run(samples: np.ndarray, language: str) -> str:
        options = StreamOptions(transcribe=TranscribeOptions(model=model, language=language), endpointing=endpointing)
        return asyncio.run(_stream(transcriber, options, samples, decode_seconds))

    return run


async def _stream(transcriber: Transcriber, options: StreamOptions, samples: np.ndarray,
                  decode_seconds: list[float]) -> str:
    texts: list[str] = []

    async def emit(event: StreamEvent) -> None:
        if isinstance(event, StreamResult) and event.is_final:
            texts.append(" ".join(word.text for word in event.words))

    async def timed(job: DecodeJob, work: Work) -> tuple[Word, ...]:
        started = time.perf_counter()
        words = await asyncio.to_thread(work, transcriber, None)
        if job.is_final:
            decode_seconds.append(time.perf_counter() - started)
        return words

    stream = transcriber.stream(options, open_decoder("linear16", 16000, 1, True), emit, timed)
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
    parser.add_argument("--endpointing", nargs="+", type=float, default=[0.25, 0.5, 1.0])
    args = parser.parse_args()
    ensure_models(MODELS, [args.model])
    clips = load_clips(["short", "long", "conversational"])
    transcriber = Transcriber(load_settings({"models_dir": str(MODELS), "threads": args.threads}))
    default_floor = live.CONTEXT_FLOOR
    print("| finals' context floor | short | long | conversational | decode per final |\n|---|---|---|---|---|")
    for floor in args.floors:
        live.CONTEXT_FLOOR = floor  # transcribe_job reads it at each final
        print(f"| {floor} | {row(transcriber, args.model, DEFAULT_ENDPOINTING, clips)} |", flush=True)
    live.CONTEXT_FLOOR = default_floor
    print("\n| endpointing | short | long | conversational | decode per final |\n|---|---|---|---|---|")
    for endpointing in args.endpointing:
        print(f"| {endpointing} s | {row(transcriber, args.model, endpointing, clips)} |", flush=True)


def row(transcriber: Transcriber, model: str, endpointing: float, clips: list[Clip]) -> str:
    decode_seconds: list[float] = []
    scores = score(finals(transcriber, model, endpointing, decode_seconds), clips)
    cells = [f"{scores[name].wer:.1f} ({scores[name].rtf:.3f})" for name in ("short", "long", "conversational")]
    return " | ".join([*cells, f"{np.mean(decode_seconds):.2f} s"])


if __name__ == "__main__":
    main()
