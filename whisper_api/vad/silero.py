"""Silero voice activity through whisper.cpp's VAD API, frame by frame for live audio.

pywhispercpp 1.5 declares the VAD functions but cannot return their context object, so they
are called through ctypes on the very libwhisper the binding loaded (same library handle,
same log callback). ctypes releases the GIL during each call. One context per audio channel:
the model's LSTM state carries from call to call, so feeding a stream in pieces gives the
same probabilities as feeding it whole.
"""

from __future__ import annotations

import ctypes
import os
import threading
from functools import cache
from pathlib import Path

import _pywhispercpp as pw
import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.engine import whispercpp_log
from whisper_api.errors import EngineError
from whisper_api.vad import FRAME_SAMPLES


class _ContextParams(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int), ("use_gpu", ctypes.c_bool), ("gpu_device", ctypes.c_int)]


def _loaded_library_path() -> str:
    """The libwhisper the binding is linked against: from the process map, else next to the binding;
    a binding with whisper.cpp linked in statically (``whisper-api engine build --binding``) exports
    the functions itself."""
    maps = Path("/proc/self/maps")
    if maps.exists():
        for line in maps.read_text().splitlines():
            if "libwhisper" in line and "/" in line:
                return line[line.index("/"):]
    folder = Path(pw.__file__).parent
    for pattern in ("pywhispercpp.libs/libwhisper*", "libwhisper*.so*", "libwhisper*.dylib", "whisper*.dll"):
        found = sorted(folder.glob(pattern))
        if found:
            return str(found[0])
    return str(pw.__file__)


@cache
def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(_loaded_library_path())
    floats = ctypes.POINTER(ctypes.c_float)
    lib.whisper_vad_default_context_params.restype = _ContextParams
    lib.whisper_vad_init_from_file_with_params.argtypes = [ctypes.c_char_p, _ContextParams]
    lib.whisper_vad_init_from_file_with_params.restype = ctypes.c_void_p
    lib.whisper_vad_detect_speech_no_reset.argtypes = [ctypes.c_void_p, floats, ctypes.c_int]
    lib.whisper_vad_detect_speech_no_reset.restype = ctypes.c_bool
    lib.whisper_vad_n_probs.argtypes = [ctypes.c_void_p]
    lib.whisper_vad_n_probs.restype = ctypes.c_int
    lib.whisper_vad_probs.argtypes = [ctypes.c_void_p]
    lib.whisper_vad_probs.restype = floats
    lib.whisper_vad_reset_state.argtypes = [ctypes.c_void_p]
    lib.whisper_vad_reset_state.restype = None
    lib.whisper_vad_free.argtypes = [ctypes.c_void_p]
    lib.whisper_vad_free.restype = None
    return lib


class SileroVad:
    """Speech probabilities for consecutive 512-sample frames of one channel."""

    def __init__(self, model_path: Path) -> None:
        whispercpp_log.install()
        lib = _library()
        params = lib.whisper_vad_default_context_params()
        params.n_threads, params.use_gpu = 1, False  # a tiny model: threads would cost more than they save
        with whispercpp_log.capture() as lines:
            context = lib.whisper_vad_init_from_file_with_params(os.fsencode(model_path), params)
        if not context:
            problems = whispercpp_log.errors(lines)
            raise EngineError(f"cannot load VAD model {model_path}{': ' + problems[0] if problems else ''}")
        lib.whisper_vad_reset_state(context)  # a new context's LSTM state is uninitialised memory
        self._context: int | None = context
        self._lock = threading.Lock()

    def probabilities(self, frames: FloatArray) -> FloatArray:
        """One probability per frame; ``frames`` holds a whole number of frames."""
        if frames.size % FRAME_SAMPLES:
            raise ValueError(f"VAD input must be a multiple of {FRAME_SAMPLES} samples")
        if frames.size == 0:
            return np.zeros(0, np.float32)
        samples = np.ascontiguousarray(frames, dtype=np.float32)
        lib = _library()
        with self._lock:
            context = self._open_context()
            pointer = samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            if not lib.whisper_vad_detect_speech_no_reset(context, pointer, samples.size):
                raise EngineError("whisper.cpp's VAD failed")
            count = lib.whisper_vad_n_probs(context)
            return np.ctypeslib.as_array(lib.whisper_vad_probs(context), (count,)).astype(np.float32)

    def reset(self) -> None:
        with self._lock:
            _library().whisper_vad_reset_state(self._open_context())

    def _open_context(self) -> int:
        if self._context is None:
            raise EngineError("the VAD model was closed")
        return self._context

    def close(self) -> None:
        with self._lock:
            if self._context is not None:
                _library().whisper_vad_free(self._context)
                self._context = None
