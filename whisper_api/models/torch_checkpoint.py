"""Read tensors from a PyTorch checkpoint, without torch.

The format ``torch.save`` writes (since PyTorch 1.6): a zip archive holding ``<name>/data.pkl``,
the pickled object, and each tensor storage's raw little-endian bytes as ``<name>/data/<key>``.
Tensors inside the object point at storages through pickle persistent ids ``("storage", storage
type, key, location, element count)`` and are rebuilt by ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, ...)``.

The pickle is read by an unpickler that resolves only the handful of globals the format uses, so
a checkpoint cannot run code the way ``pickle.load`` would let it; tensors are bounds-checked
against their storage before any memory is touched.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

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


class _Inert:
    """Stands in for the few classes a Lightning checkpoint records about its training (versions,
    task specifications): built and filled like them, holding nothing, running nothing."""

    def __init__(self, *_args: object) -> None:
        pass

    def __setstate__(self, _state: object) -> None:
        pass


INERT = {("torch.torch_version", "TorchVersion"), ("pyannote.audio.core.task", "Specifications"),
         ("pyannote.audio.core.task", "Problem"), ("pyannote.audio.core.task", "Resolution")}


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
        if (module, name) in INERT:
            return _Inert
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


def _read_storages(archive: zipfile.ZipFile, prefix: str, storages: dict[str, _Storage]) -> None:
    for key, storage in storages.items():
        try:
            raw = archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"storage {key} is missing from the checkpoint") from None
        if len(raw) != storage.count * storage.dtype.itemsize:
            raise CheckpointError(f"storage {key} holds {len(raw)} bytes, {storage.count} elements expected")
        storage.data = np.frombuffer(raw, storage.dtype)


def _pickle_name(archive: zipfile.ZipFile) -> str:
    names = [name for name in archive.namelist() if name.endswith("data.pkl") and name.count("/") == 1]
    if len(names) != 1:
        raise CheckpointError("not a PyTorch checkpoint (no single data.pkl in the archive)")
    byteorder = names[0].replace("data.pkl", "byteorder")
    if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
        raise CheckpointError("big-endian checkpoints are not supported")
    return names[0]


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


def load_checkpoint(data: bytes) -> Any:
    """The checkpoint's object, with every tensor as a numpy array (dicts become plain dicts)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = _pickle_name(archive)
            storages: dict[str, _Storage] = {}
            obj = _CheckpointUnpickler(io.BytesIO(archive.read(name)), storages).load()
            _read_storages(archive, name.removesuffix("data.pkl"), storages)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise CheckpointError(f"not a PyTorch checkpoint ({exc})") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint is damaged ({exc})") from exc
    return _materialise(obj, {})
