"""Array types of the diarization code (scores in float32 or float64, labels in any integer type),
and what its numpy networks share: weights from an ``.npz``, inputs run a batch at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from whisper_api.audio import FloatArray

Floats = npt.NDArray[np.floating[Any]]
Labels = npt.NDArray[np.integer[Any]]
Float64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def load_weights(path: Path) -> dict[str, FloatArray]:
    with np.load(path) as archive:
        return {name: archive[name].astype(np.float32) for name in archive.files}


def in_batches(run: Callable[[FloatArray], FloatArray], inputs: FloatArray, size: int,
               output_shape: tuple[int, ...]) -> FloatArray:
    """``run`` on ``size`` inputs at a time, the results joined (``output_shape``: one result's)."""
    results = [run(inputs[first:first + size]) for first in range(0, len(inputs), size)]
    return np.concatenate([np.zeros((0, *output_shape), np.float32), *results])
