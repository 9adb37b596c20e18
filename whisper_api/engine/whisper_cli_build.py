"""Build ``whisper-cli`` from the pinned whisper.cpp source: the version the native engine runs;
and rebuild the native engine's binding itself from that source, for this machine's CPU.

The source is the pywhispercpp source distribution (it carries the whole whisper.cpp tree),
fetched with pip from the package index and checked against its SHA-256. Builds are cached
outside the checkout, keyed by the pin and the CMake flags, so a rebuild happens only when
either changes; the binary is then copied where the cli engine looks for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from whisper_api.engine import source_edits
from whisper_api.errors import EngineError, ModelDownloadError
from whisper_api.models.packaged import PYWHISPERCPP_SOURCE, WHISPER_CPP_IN_SOURCE, Archive, download_archive

BINARY_NAME = "whisper-cli"
QUANTIZE_NAME = "whisper-quantize"
"""whisper.cpp's model quantizer, built beside whisper-cli (``whisper-api models quantize``)."""
BINARIES = (BINARY_NAME, QUANTIZE_NAME)
STAMP_NAME = "whisper-cli.json"
CHECKOUT_BIN = Path(__file__).resolve().parents[2] / "vendor" / "whisper.cpp" / "bin"


@dataclass(frozen=True)
class SourcePin:
    source: Archive
    whisper_cpp: str
    """The whisper.cpp version inside that source (and inside the matching pywhispercpp wheels)."""

    @property
    def version(self) -> str:
        return self.source.version

    @property
    def requirement(self) -> str:
        return self.source.requirement

    @property
    def sha256(self) -> str:
        return self.source.sha256

    @property
    def package_prefix(self) -> str:
        return f"{self.source.package}-{self.source.version}/"

    @property
    def source_prefix(self) -> str:
        return f"{self.package_prefix}whisper.cpp/"


PIN = SourcePin(PYWHISPERCPP_SOURCE, WHISPER_CPP_IN_SOURCE)
MATRIX_KERNELS = "-DGGML_LLAMAFILE=ON"
"""ggml's tiled matrix-product kernels (llamafile's tinyBLAS), which whisper.cpp's CMake leaves off and
llama.cpp's turns on. The encoder is all matrix products: with them it runs 1.5x faster on a CPU
(docs/benchmarks.md#peers-on-the-same-weights), with or without AVX-512."""
BINDING_CMAKE_ARGS = ("-DBUILD_SHARED_LIBS=OFF", "-DCMAKE_POSITION_INDEPENDENT_CODE=ON", MATRIX_KERNELS)
"""The source distribution's default shared libraries leave the binding unable to find
libwhisper when imported; static ones, compiled position-independent, link into the binding."""

# Static libraries make one self-contained binary that can be copied out of the build tree.
BASE_CMAKE_ARGS = ("-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DWHISPER_BUILD_TESTS=OFF",
                   "-DWHISPER_BUILD_SERVER=OFF", "-DWHISPER_SDL2=OFF", MATRIX_KERNELS)

Log = Callable[[str], None]


def default_bin_dir(home: Path) -> Path:
    """``vendor/whisper.cpp/bin`` in a checkout, else ``$WHISPER_API_HOME/bin``."""
    return CHECKOUT_BIN if CHECKOUT_BIN.parent.is_dir() else home / "bin"


def installed_binary(name: str, home: Path) -> Path | None:
    """A binary ``whisper-api engine build`` installed, else one on PATH."""
    built = default_bin_dir(home) / name
    if built.is_file():
        return built
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def _identity(cmake_args: Sequence[str], *more: object) -> str:
    """A hash of what a build is made from: the pin, its CMake flags, the source edits, and ``more``."""
    text = json.dumps([PIN.requirement, PIN.sha256, list(cmake_args), source_edits.digest(), *more])
    return hashlib.sha256(text.encode()).hexdigest()


def build_key(cmake_args: Sequence[str]) -> str:
    return _identity([*BASE_CMAKE_ARGS, *cmake_args], list(BINARIES))[:16]


def binding_version(cmake_args: Sequence[str] = ()) -> str:
    """The version a binding built here installs as: the pin's, with a local label naming the flags and
    the source edits (it still satisfies ``pywhispercpp==1.5.1``)."""
    return f"{PIN.version}+whisperapi.{_identity([*BINDING_CMAKE_ARGS, *cmake_args])[:12]}"


def read_stamp(binary: Path) -> dict[str, object] | None:
    """What an installed binary was built from, if this module built it."""
    try:
        data = json.loads((binary.parent / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build_whisper_cli(dest_dir: Path, cmake_args: Sequence[str] = (), jobs: int | None = None,
                      cache_dir: Path | None = None, force: bool = False, log: Log = print) -> Path:
    """Install whisper-cli (and whisper-quantize) into ``dest_dir``, building them only when no build
    of this pin and flags exists."""
    key = build_key(cmake_args)
    target = dest_dir / BINARY_NAME
    stamp = read_stamp(target)
    if (not force and all((dest_dir / name).is_file() for name in BINARIES) and stamp is not None
            and stamp.get("key") == key):
        log(f"{target} is up to date ({PIN.requirement}, whisper.cpp {PIN.whisper_cpp})")
        return target
    cached = (cache_dir or platformdirs.user_cache_path("whisper-api") / "whisper-cli") / key
    if force or not all((cached / name).is_file() for name in BINARIES):
        _build_into(cached, cmake_args, jobs or os.cpu_count() or 1, key, log)
    else:
        log(f"using the cached build in {cached}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in (*BINARIES, STAMP_NAME):
        _copy_atomically(cached / name, dest_dir / name)
    log(f"installed {target}")
    return target


def _build_into(cached: Path, cmake_args: Sequence[str], jobs: int, key: str, log: Log) -> None:
    with tempfile.TemporaryDirectory(prefix="whisper-cli-build-") as work_dir:
        work = Path(work_dir)
        source = _fetch_source(work, PIN.source_prefix, log)
        source_edits.apply_edits(source)
        build = work / "build"
        log(f"building whisper-cli (whisper.cpp {PIN.whisper_cpp}) with {jobs} jobs; this takes a few minutes")
        _run(["cmake", "-S", str(source), "-B", str(build), *BASE_CMAKE_ARGS, *cmake_args], "cmake configure")
        _run(["cmake", "--build", str(build), "--target", *BINARIES, "--config", "Release", "-j", str(jobs)],
             "cmake build")
        cached.mkdir(parents=True, exist_ok=True)
        for name in BINARIES:
            binary = next(build.rglob(name), None)
            if binary is None:
                raise EngineError(f"the build finished without producing {name}")
            _copy_atomically(binary, cached / name)
        stamp = {"key": key, "source": PIN.requirement, "sha256": PIN.sha256, "whisper_cpp": PIN.whisper_cpp,
                 "cmake_args": [*BASE_CMAKE_ARGS, *cmake_args]}
        (cached / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")


def build_binding(cmake_args: Sequence[str] = (), jobs: int | None = None,
                  current: Callable[[str], bool] | None = None, log: Log = print) -> None:
    """Build pywhispercpp (the native engine's binding) from the pinned source, with whisper-api's edits
    (``source_edits``), for this machine (whisper.cpp's CMake uses every instruction the CPU has, where
    the published wheels target a common one, and ggml's matrix kernels) and install it into
    this Python environment in place of the one installed; unless no extra flags are asked for and
    ``current(version)`` says the installed binding is that build already."""
    version = binding_version(cmake_args)
    if not cmake_args and current is not None and current(version):
        log(f"the installed binding is this build already ({version}; --force rebuilds)")
        return
    with tempfile.TemporaryDirectory(prefix="whisper-binding-build-") as work:
        package = _fetch_source(Path(work), PIN.package_prefix, log)
        source_edits.apply_edits(package / "whisper.cpp")
        source_edits.apply_edits(package, source_edits.BINDING_EDITS)
        log(f"building {PIN.requirement} (whisper.cpp {PIN.whisper_cpp}) for this CPU; this takes a few minutes")
        # The package's build script passes CMAKE_ARGS to CMake; setuptools-scm gives it the version.
        environment = {**os.environ, "CMAKE_ARGS": " ".join([*BINDING_CMAKE_ARGS, *cmake_args]),
                       "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs or os.cpu_count() or 1),
                       "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_PYWHISPERCPP": version}
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
              str(package)], "pip install", environment)
    log(f"installed pywhispercpp {version} built for this CPU (whisper-api engine info shows its features)")


def _download_source(work: Path, log: Log) -> Path:
    """The pinned source distribution, checked against its SHA-256."""
    log(f"fetching the {PIN.requirement} source distribution")
    try:
        return download_archive(PIN.source, work)
    except ModelDownloadError as exc:
        raise EngineError(str(exc)) from exc


def _fetch_source(work: Path, prefix: str, log: Log) -> Path:
    """The part of the pinned source distribution under ``prefix``, extracted into ``work``."""
    archive = _download_source(work, log)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        for member in members:  # refuse anything that would land outside the work folder
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise EngineError(f"{archive.name}: unsafe path {member.name}")
        tar.extractall(work / "src", members=members)
    return work / "src" / prefix


def _run(command: list[str], what: str, environment: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise EngineError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copy2(source, temporary)
    temporary.replace(target)
