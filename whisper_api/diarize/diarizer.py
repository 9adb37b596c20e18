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
from whisper_api.diarize.pipeline import Diarization, SpeakerModels, diarize_speakers
from whisper_api.diarize.segmentation import SegmentationModel
from whisper_api.diarize.windows import embed_regions
from whisper_api.errors import ModelNotFoundError
from whisper_api.models import SPEAKER_ENCODER, ModelStore
from whisper_api.models.catalogue import SPEAKER_ENCODER_FILENAME, SPEAKER_SEGMENTATION_FILENAME
from whisper_api.options import DiarizeOptions, require_channels
from whisper_api.vad.detector import probabilities_with, vad_model_path
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
        self._segmentation: SegmentationModel | None = None
        self._lock = threading.Lock()

    def _path(self, filename: str) -> Path:
        path = self.models.models_dir / filename
        if not path.is_file():
            raise ModelNotFoundError("diarization needs the speaker models; fetch them with: "
                                     f"whisper-api models download {SPEAKER_ENCODER}")
        return path

    def encoder(self) -> SpeakerEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = SpeakerEncoder.load(self._path(SPEAKER_ENCODER_FILENAME))
            return self._encoder

    def speaker_models(self) -> SpeakerModels:
        """The encoder and the segmentation model (what whole recordings need), loaded once."""
        encoder = self.encoder()
        with self._lock:
            if self._segmentation is None:
                self._segmentation = SegmentationModel.load(self._path(SPEAKER_SEGMENTATION_FILENAME))
            return SpeakerModels(encoder, self._segmentation)

    def embed(self, regions: Sequence[Region], samples: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Start times and embeddings of the windows over ``regions`` of ``samples``."""
        return embed_regions(samples, regions, self.encoder())

    def vad_model(self) -> Path | None:
        return vad_model_path(self.models)

    def diarize(self, audio: DecodedAudio, options: DiarizeOptions,
                cancel: threading.Event | None = None) -> Diarization:
        """Turns of the recording's speakers (``speaker`` mode) or channels (``channel`` mode);
        setting ``cancel`` stops it between steps with TranscriptionCancelled."""
        models = self.speaker_models() if options.mode == "speaker" else None  # fail before any work
        if models is None:
            require_channels(audio.channels)
        mono = audio.mono()
        vad_model = self.vad_model()
        probabilities = probabilities_with(vad_model, mono, cancel)
        if models is None:
            diarization = diarize_channels(audio.samples, probabilities)
        else:
            diarization = diarize_speakers(mono, probabilities, models, options, cancel)
        return dataclasses.replace(diarization, warnings=() if vad_model else (NO_VAD_WARNING,))
