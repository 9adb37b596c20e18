"""Write a PyTorch checkpoint without torch, to test the torch-free reader.

The layout follows torch.save: a zip archive with the object pickled as ``archive/data.pkl``
(persistent ids for storages, ``torch._utils._rebuild_tensor_v2`` calls for tensors) and each
storage's raw bytes as ``archive/data/<key>``. Stand-in ``torch`` modules exist only while
pickling, so pickle records the right global names.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

STORAGE_NAMES = {np.dtype("<f4"): "FloatStorage", np.dtype("<i8"): "LongStorage", np.dtype("<f8"): "DoubleStorage"}


def _rebuild_tensor_v2(*args: object) -> None:  # only its name is pickled
    raise NotImplementedError


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    """A tensor over a storage: ``offset``, ``shape`` and ``stride`` in elements."""

    def __init__(self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.stride, False, OrderedDict()))


def tensor(array: np.ndarray, key: str) -> _Tensor:
    contiguous = np.ascontiguousarray(array)
    strides = tuple(step // contiguous.itemsize for step in contiguous.strides)
    return _Tensor(_Storage(key, contiguous.reshape(-1)), 0, contiguous.shape, strides)


@contextmanager
def _stand_in_torch() -> Iterator[types.ModuleType]:
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    _rebuild_tensor_v2.__module__ = "torch._utils"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Pickler(pickle.Pickler):
    def __init__(self, out: io.BytesIO, torch: types.ModuleType) -> None:
        super().__init__(out, protocol=2)
        self.torch, self.storages = torch, {}

    def persistent_id(self, obj: object) -> tuple[Any, ...] | None:
        if not isinstance(obj, _Storage):
            return None
        self.storages[obj.key] = obj
        storage_type = getattr(self.torch, STORAGE_NAMES[obj.data.dtype])
        return ("storage", storage_type, obj.key, "cpu", obj.data.size)


def write_checkpoint(obj: object, missing: tuple[str, ...] = ()) -> bytes:
    """The checkpoint's bytes; storages named in ``missing`` are left out (a damaged file)."""
    pickled = io.BytesIO()
    with _stand_in_torch() as torch:
        pickler = _Pickler(pickled, torch)
        pickler.dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", pickled.getvalue())
        archive.writestr("archive/version", "3\n")
        for key, storage in sorted(pickler.storages.items()):
            if key not in missing:
                archive.writestr(f"archive/data/{key}", storage.data.tobytes())
    return out.getvalue()
