"""The diarization entry point: decoded audio in, speaker turns out.

The encoder weights load once per Diarizer and are read-only, so one Diarizer serves any number
of threads. The first Diarizer limits numpy's BLAS to one thread for the whole process: several
threads cost nearly twice the CPU time for a few percent less wall time, the server runs
diarizations side by side, and a process-wide setting changed back and forth by concurrent calls
would race. (numpy's matrix products are used by nothing else in whisper-api.)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from threadpoolctl import threadpool_limits

from whisper_api.audio import DecodedAudio, FloatArray
from whisper_api.diarize.channels import diarize_channels
from whisper_api.diarize.encoder import SpeakerEncoder
from whisper_api.diarize.pipeline import Diarization, diarize_speakers
from whisper_api.diarize.windows import embed_regions
from whisper_api.errors import ModelNotFoundError
from whisper_api.models import SPEAKER_ENCODER, ModelStore
from whisper_api.options import DiarizeOptions, require_channels
from whisper_api.vad.detector import open_vad, speech_probabilities, vad_model_path
from whisper_api.vad.regions import Region

NO_VAD_WARNING = ("no VAD model installed: speech was found by loudness, which hurts diarization "
                  "(whisper-api models download silero-vad)")


@cache
def _one_blas_thread() -> None:
    threadpool_limits(limits=1, user_api="blas")


class Diarizer:
    def __init__(self, models: ModelStore) -> None:
        _one_blas_thread()
        self.models = models
        self._encoder: SpeakerEncoder | None = None
        self._lock = threading.Lock()

    def encoder(self) -> SpeakerEncoder:
        with self._lock:
            if self._encoder is None:
                path = self.models.path_for(SPEAKER_ENCODER)
                if not path.is_file():
                    raise ModelNotFoundError("diarization needs the speaker encoder; fetch it with: "
                                             f"whisper-api models download {SPEAKER_ENCODER}")
                self._encoder = SpeakerEncoder.load(path)
            return self._encoder

    def embed(self, regions: Sequence[Region], samples: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Start times and embeddings of the windows over ``regions`` of ``samples``."""
        return embed_regions(samples, regions, self.encoder())

    def vad_model(self) -> Path | None:
        return vad_model_path(self.models)

    def diarize(self, audio: DecodedAudio, options: DiarizeOptions,
                cancel: threading.Event | None = None) -> Diarization:
        """Turns of the recording's speakers (``speaker`` mode) or channels (``channel`` mode);
        setting ``cancel`` stops it between steps with TranscriptionCancelled."""
        encoder = self.encoder() if options.mode == "speaker" else None  # fail before any work
        if encoder is None:
            require_channels(audio.channels)
        mono = audio.mono()
        vad_model = self.vad_model()
        vad = open_vad(vad_model)
        try:
            probabilities = speech_probabilities(mono, vad, cancel)
        finally:
            vad.close()
        if encoder is None:
            diarization = diarize_channels(audio.samples, probabilities)
        else:
            diarization = diarize_speakers(mono, probabilities, encoder, options, cancel)
        return dataclasses.replace(diarization, warnings=() if vad_model else (NO_VAD_WARNING,))
