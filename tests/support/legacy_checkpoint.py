"""Write a checkpoint in PyTorch's legacy format without torch, to test the torch-free reader.

The layout follows torch.save(..., _use_new_zipfile_serialization=False): magic number,
protocol version and system info as three pickles, then the object pickled with persistent
ids for storages and ``torch._utils._rebuild_tensor_v2`` calls for tensors, then the list of
storage keys, then each storage as an int64 element count followed by its raw bytes.
Stand-in ``torch`` modules exist only while pickling, so pickle records the right global names.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
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
        return ("storage", storage_type, obj.key, "cpu", obj.data.size, None)


def write_legacy(obj: object) -> bytes:
    out = io.BytesIO()
    for header in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True,
                                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)
    with _stand_in_torch() as torch:
        pickler = _Pickler(out, torch)
        pickler.dump(obj)
    keys = sorted(pickler.storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        data = pickler.storages[key].data
        out.write(struct.pack("<q", data.size) + data.tobytes())
    return out.getvalue()
