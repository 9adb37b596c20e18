"""Read tensors from a PyTorch checkpoint in the legacy (pre-1.6) format, without torch.

The format, as ``torch.save(..., _use_new_zipfile_serialization=False)`` writes it: five
pickles in a row (a magic number, the protocol version 1001, system info, the object itself,
then the list of storage keys), followed by each storage's raw data in that order, every one
prefixed with its element count as a little-endian int64. Tensors inside the object point at
storages through pickle persistent ids ``("storage", storage type, key, location, count, view)``
and are rebuilt by ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``.

Every one of the five pickles is read by an unpickler that resolves only the handful of globals
the format uses, so a checkpoint cannot run code the way ``pickle.load`` would let it; tensors
are bounds-checked against their storage before any memory is touched.
"""

from __future__ import annotations

import math
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    count: int
    data: npt.NDArray[Any] | None = None


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> npt.NDArray[Any]:
        if self.storage.data is None:
            raise CheckpointError("a tensor refers to a storage the file does not contain")
        self._check_bounds()
        itemsize = self.storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset:], self.shape, tuple(step * itemsize for step in self.stride))
        return np.array(view)  # a copy that owns its memory, laid out contiguously

    def _check_bounds(self) -> None:
        """Inside the storage, and no larger than it (a zero stride could otherwise ask for terabytes)."""
        if len(self.shape) != len(self.stride) or min((self.offset, *self.shape, *self.stride), default=0) < 0:
            raise CheckpointError("a tensor with a negative offset, size or stride")
        if 0 in self.shape:
            return
        last = self.offset + sum((size - 1) * step for size, step in zip(self.shape, self.stride, strict=True))
        if last >= self.storage.count or math.prod(self.shape) > self.storage.count:
            raise CheckpointError("a tensor reaches past the end of its storage")


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                    *_ignored: object) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles and the key list: plain values only, no globals at all."""

    def find_class(self, module: str, name: str) -> Any:
        raise CheckpointError(f"unsupported object in checkpoint: {module}.{name}")


class _CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, handle: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise CheckpointError(f"unsupported object in checkpoint: {module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unsupported persistent id in checkpoint: {pid!r:.80}")
        _, storage_type, key, _location, count = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise CheckpointError("storage views are not supported")
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError("a storage of unknown type")
        return self.storages.setdefault(str(key), _Storage(storage_type.dtype, int(count)))


def _load_header(handle: IO[bytes]) -> None:
    try:
        magic, protocol = _PlainUnpickler(handle).load(), _PlainUnpickler(handle).load()
        system = _PlainUnpickler(handle).load()
    except CheckpointError:
        raise
    except Exception as exc:  # any other unpickling failure means "not this format"
        raise CheckpointError("not a legacy PyTorch checkpoint (the zip format is not supported)") from exc
    if magic != MAGIC_NUMBER or protocol != PROTOCOL_VERSION:
        raise CheckpointError("not a legacy PyTorch checkpoint (wrong magic number or protocol)")
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise CheckpointError("big-endian checkpoints are not supported")


def _read_storages(handle: IO[bytes], storages: dict[str, _Storage]) -> None:
    keys = _PlainUnpickler(handle).load()
    if not isinstance(keys, list):
        raise CheckpointError("the storage list is missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise CheckpointError(f"storage {key} is listed but never used")
        (count,) = struct.unpack("<q", handle.read(8))
        if count != storage.count:
            raise CheckpointError(f"storage {key} holds {count} elements, {storage.count} expected")
        raw = handle.read(count * storage.dtype.itemsize)
        if len(raw) != count * storage.dtype.itemsize:
            raise CheckpointError("the checkpoint is truncated")
        storage.data = np.frombuffer(raw, storage.dtype)


def _materialise(value: Any, done: dict[int, Any]) -> Any:
    """Tensors as arrays, containers rebuilt; ``done`` by id, so an object the pickle shares is
    converted once (nested shared lists would otherwise grow exponentially)."""
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, _TensorRef):
        result: Any = value.materialise()
    elif isinstance(value, dict):
        result = {key: _materialise(item, done) for key, item in value.items()}
    elif isinstance(value, list | tuple):
        result = type(value)(_materialise(item, done) for item in value)
    else:
        return value
    done[id(value)] = result
    return result


def load_checkpoint(handle: IO[bytes]) -> Any:
    """The checkpoint's object, with every tensor as a numpy array (dicts become plain dicts)."""
    _load_header(handle)
    storages: dict[str, _Storage] = {}
    try:
        obj = _CheckpointUnpickler(handle, storages).load()
        _read_storages(handle, storages)
    except (pickle.UnpicklingError, EOFError, struct.error) as exc:
        raise CheckpointError(f"the checkpoint is damaged ({exc})") from exc
    return _materialise(obj, {})
