"""A package index on 127.0.0.1 serving a made-up package, for testing ``pip download`` fetches."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.http_server import ServedFiles, serve

NAME, VERSION = "tinymodel", "1.0"
MEMBER = "tinymodel/weights.bin"
LICENSE = f"{NAME}-{VERSION}.dist-info/LICENSE"
# An in-tree build backend: pip prepares a source distribution's metadata without fetching anything.
BACKEND = '''
import os
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    info = os.path.join(directory, "tinymodel-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as out:
        out.write("Metadata-Version: 2.1\\nName: tinymodel\\nVersion: 1.0\\n")
    return "tinymodel-1.0.dist-info"
'''


def wheel(weights: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MEMBER, weights)
        archive.writestr(LICENSE, "Made-up licence text.\n")
        archive.writestr(f"{NAME}-{VERSION}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n")
        archive.writestr(f"{NAME}-{VERSION}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                                              "Tag: py3-none-any\n")
        archive.writestr(f"{NAME}-{VERSION}.dist-info/RECORD", "")
    return out.getvalue()


def source_distribution(weights: bytes) -> bytes:
    files = {MEMBER: weights, "backend.py": BACKEND.encode(),
             "pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
             "PKG-INFO": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode()}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{NAME}-{VERSION}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass(frozen=True)
class Index:
    url: str
    archives: dict[str, bytes]

    def sha256(self, filename: str) -> str:
        return hashlib.sha256(self.archives[filename]).hexdigest()


@contextmanager
def package_index(weights: bytes) -> Iterator[Index]:
    """``/simple/tinymodel/`` lists a wheel and a source distribution, both holding ``weights``."""
    archives = {f"{NAME}-{VERSION}-py3-none-any.whl": wheel(weights), f"{NAME}-{VERSION}.tar.gz":
                source_distribution(weights)}
    links = "".join(f'<a href="/files/{name}#sha256={hashlib.sha256(data).hexdigest()}">{name}</a>\n'
                    for name, data in archives.items())
    files = {f"/files/{name}": data for name, data in archives.items()}
    files[f"/simple/{NAME}/"] = f"<html><body>\n{links}</body></html>\n".encode()
    with serve(ServedFiles(files, content_types={f"/simple/{NAME}/": "text/html"})) as base:
        yield Index(f"{base}/simple", archives)
