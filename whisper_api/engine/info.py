"""What each engine is on this machine: available or not, whisper.cpp version, binary, CPU features."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from whisper_api.audio import write_float_wav
from whisper_api.engine.weights import built_with
from whisper_api.engine.whisper_cli import find_whisper_cli
from whisper_api.engine.whisper_cli_build import PIN, read_stamp
from whisper_api.errors import WhisperApiError
from whisper_api.settings import Settings

_SYSTEM_INFO = re.compile(r"system_info: .*?\| (.*)$")
CPU_FLAGS = Path("/proc/cpuinfo")
FEATURE_FLAGS = {"AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni",
                 "AVX512_BF16": "avx512_bf16", "AVX_VNNI": "avx_vnni", "AMX_INT8": "amx_int8"}
"""ggml's names for the x86 instruction sets it can use, and the Linux CPU flag of each."""
BUILD_FEATURES = ("LLAMAFILE",)
"""ggml features any CPU gains from (its matrix kernels), which a build may leave out."""


@dataclass(frozen=True)
class EngineInfo:
    name: str
    available: bool
    whisper_cpp: str
    location: str
    cpu_features: str


def languages() -> list[str]:
    """Every language code whisper.cpp knows, in its own order (a multilingual model's languages)."""
    import _pywhispercpp as pw  # the binding's language table; loaded when first asked

    return [str(pw.whisper_lang_str(index)) for index in range(pw.whisper_lang_max_id() + 1)]


def native_info() -> EngineInfo:
    try:
        import _pywhispercpp as pw

        package = version("pywhispercpp")
    except (ImportError, PackageNotFoundError) as exc:
        return EngineInfo("native", False, "-", f"pywhispercpp not importable: {exc}", "-")
    whisper_cpp = PIN.whisper_cpp if package.split("+")[0] == PIN.version else f"unknown (pywhispercpp {package})"
    return EngineInfo("native", True, whisper_cpp, f"pywhispercpp {package} (in-process)",
                      str(pw.whisper_print_system_info()).strip())


def cli_info(settings: Settings, probe_model: Path | None) -> EngineInfo:
    """``probe_model``: run the binary on half a second of silence to read its CPU features."""
    try:
        binary = find_whisper_cli(settings.whisper_cli or None, settings.home)
    except WhisperApiError as exc:
        return EngineInfo("cli", False, "-", str(exc), "-")
    stamp = read_stamp(binary)
    whisper_cpp = str(stamp["whisper_cpp"]) if stamp else "unknown (not built by whisper-api)"
    features = _probe_features(binary, probe_model) if probe_model else "unknown (install a model to probe)"
    return EngineInfo("cli", True, whisper_cpp, str(binary), features)


def _probe_features(binary: Path, model: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="whisper-api-probe-") as work:
        wav = write_float_wav(Path(work) / "silence.wav", np.zeros(8000, np.float32))
        try:
            result = subprocess.run([str(binary), "-m", str(model), "-f", str(wav), "-t", "1"], capture_output=True,
                                    text=True, errors="replace", timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown (probe failed: {exc})"
    for line in result.stderr.splitlines():
        match = _SYSTEM_INFO.search(line)
        if match:
            return match.group(1).strip()
    return f"unknown (probe exited {result.returncode})"


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags (Linux; empty elsewhere)."""
    try:
        text = CPU_FLAGS.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def missing_features(system_info: str, flags: set[str] | None = None) -> list[str]:
    """ggml features a build (its ``whisper_print_system_info``) was made without that would speed it
    up here: instruction sets this CPU has, and the matrix kernels."""
    present = cpu_flags() if flags is None else flags
    usable = [name for name, flag in FEATURE_FLAGS.items() if flag in present] + list(BUILD_FEATURES)
    return [name for name in usable if not built_with(system_info, name)]


def binding_is_current(build_version: str) -> bool:
    """The in-process binding is the build ``build_version`` names, with every feature this machine can use."""
    native = native_info()
    return (native.available and version("pywhispercpp") == build_version
            and not missing_features(native.cpu_features))
