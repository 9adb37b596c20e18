"""Settings, declared once: flags > ``WHISPER_API_*`` environment > config file > defaults.

``WHISPER_API_HOME`` moves all user state (models, config); the config file is
``$WHISPER_API_HOME/config.toml`` with the same names in lower case (``model = "small"``).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from whisper_api.errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ENV_PREFIX = "WHISPER_API_"
CONFIG_FILENAME = "config.toml"
MIN_SECRET_CHARACTERS = 32
FLAG, ENV, CONFIG, DEFAULT = "flag", "environment", "config file", "default"


def _parse_path(text: str) -> Path:
    return Path(text).expanduser()


def _parse_positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def _parse_non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _parse_positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _parse_secret(text: str) -> str:
    if text and len(text) < MIN_SECRET_CHARACTERS:
        raise ValueError(f"must be at least {MIN_SECRET_CHARACTERS} characters (e.g. openssl rand -hex 32)")
    return text


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


WEIGHTS = ("auto", "stored")
"""The ``weights`` setting's choices (engine.weights)."""


def _parse_weights(text: str) -> str:
    choice = text.strip().lower()
    if choice not in WEIGHTS:
        raise ValueError(f"must be {' or '.join(WEIGHTS)}")
    return choice


CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_DEFAULT_THREADS = 4
"""whisper.cpp's own default: more than 4 threads per decode rarely helps on the CPU backend."""


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, further limited by a cgroup CPU quota (a
    container given 2 CPUs on a 16-core host may run on all 16, but only 2 at a time)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    quota = cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def cgroup_quota() -> float | None:
    """CPUs' worth of time the cgroup allows (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us``); None without a limit."""
    try:
        limit = (CGROUP_ROOT / "cpu.max").read_text().split()
        if limit and limit[0] != "max":
            return int(limit[0]) / int(limit[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((CGROUP_ROOT / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def engine_slots(settings: Settings) -> tuple[int, str | None]:
    """How many workers may decode at once without asking for more cores than there are, and what to
    tell the user when that is fewer than asked or their threads alone are too many. ggml's threads
    wait for each other by spinning, so oversubscribed cores collapse throughput instead of sharing it."""
    cores = usable_cores()
    if settings.threads > cores:
        return 1, (f"{settings.threads} threads per decode on {cores} usable cores: whisper.cpp's threads wait "
                   f"for each other by spinning, so this is slower than {cores}; one worker runs")
    slots = min(settings.workers, cores // settings.threads)
    if slots < settings.workers:
        return slots, (f"{settings.workers} workers x {settings.threads} threads would ask for "
                       f"{settings.workers * settings.threads} of {cores} usable cores: {slots} decode at once "
                       "(more would only make the cores take turns, slower)")
    return slots, None


def default_threads(workers: int) -> int:
    """Threads per decode so that all workers together never ask for more cores than there are:
    ggml's threads spin while they wait for each other, so oversubscribed cores collapse throughput."""
    return max(1, min(MAX_DEFAULT_THREADS, usable_cores() // workers))


@dataclass(frozen=True)
class SettingSpec:
    name: str
    help: str
    parse: Callable[[str], Any]
    default: Callable[[Mapping[str, Any]], Any]
    """Computes the default from the settings resolved before this one (in declaration order)."""
    secret: bool = False
    """Never shown: ``whisper-api config`` prints *** for it."""

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("home", "Folder for all user state: models, config, database.", _parse_path,
                lambda _: platformdirs.user_data_path("whisper-api")),
    SettingSpec("models_dir", "Folder holding GGML model files.", _parse_path,
                lambda resolved: resolved["home"] / "models"),
    SettingSpec("model", "Default model: a catalogue name or a path to a .bin file.", str,
                lambda _: "base"),
    SettingSpec("engine", "Speech engine: native (whisper.cpp in-process) or cli (the whisper-cli binary).", str,
                lambda _: "native"),
    SettingSpec("weights", "Model weights the native engine runs: auto (an f16 model with its decoder quantized to "
                "q8_0 as it loads, where the binding can, and from a bf16 copy made once beside it, where the CPU "
                "has AVX512_BF16 and the binding uses it: faster) or stored (the model file as it is).",
                _parse_weights, lambda _: "auto"),
    SettingSpec("whisper_cli", "Path of the whisper-cli binary for the cli engine; default: the built one, then PATH.",
                str, lambda _: ""),
    SettingSpec("models_url", "Base URL of a model mirror; default: each model's Hugging Face repository.",
                str, lambda _: ""),
    SettingSpec("database_url", "SQLAlchemy URL of the API key database; default: SQLite in home.", str,
                lambda resolved: f"sqlite:///{resolved['home'] / 'whisper-api.db'}"),
    SettingSpec("host", "Server: address to listen on.", str, lambda _: "127.0.0.1"),
    SettingSpec("port", "Server: TCP port.", _parse_positive_int, lambda _: 7860),
    SettingSpec("workers", "Server: transcriptions run at once, each with its own loaded model.", _parse_positive_int,
                lambda _: 1),
    SettingSpec("threads", "CPU threads per transcription; default: the usable cores shared among the workers, "
                "at most 4.", _parse_positive_int, lambda resolved: default_threads(resolved["workers"])),
    SettingSpec("queue_size", "Server: requests that may wait for a worker before 429.", _parse_non_negative_int,
                lambda _: 16),
    SettingSpec("max_upload_mb", "Server: largest request body or URL download, in MB.", _parse_positive_int,
                lambda _: 2048),
    SettingSpec("max_audio_minutes", "Server: longest audio accepted, in minutes.", _parse_positive_int,
                lambda _: 600),
    SettingSpec("request_timeout", "Server: seconds a transcription may take before 504.", _parse_positive_int,
                lambda _: 3600),
    SettingSpec("body_timeout", "Server: seconds a request body may send nothing before 408 (slow clients).",
                _parse_positive_float, lambda _: 30.0),
    SettingSpec("max_streams", "Server: live streams open at once, all keys together, before 429; default 4 per "
                "usable core.", _parse_positive_int, lambda _: 4 * usable_cores()),
    SettingSpec("allowed_hosts", "Server: host names or CIDR ranges that url sources may reach although "
                "private (comma-separated).", str, lambda _: ""),
    SettingSpec("max_jobs", "Server: callback jobs that may be pending at once before 429.", _parse_positive_int,
                lambda _: 1000),
    SettingSpec("callback_attempts", "Server: deliveries tried per callback before the job fails.",
                _parse_positive_int, lambda _: 10),
    SettingSpec("callback_retry_seconds", "Server: wait before a callback's second attempt; it doubles per attempt, "
                "up to 10 minutes.", _parse_positive_float, lambda _: 5.0),
    SettingSpec("job_retention_hours", "Server: hours a finished callback job (and its result) stays queryable.",
                _parse_positive_float, lambda _: 24.0),
    SettingSpec("broker_url", "Server and worker: the task queue for callback jobs, e.g. redis://host:6379/0 "
                "(pip install 'whisper-api[cluster]'; `whisper-api worker` runs them); empty: the server runs them.",
                str, lambda _: ""),
    SettingSpec("remote_workers", "Server: send synchronous requests (POST /v1/listen, the OpenAI routes) to the "
                "task queue's workers and wait, instead of transcribing here (needs a redis:// broker_url).",
                _parse_bool, lambda _: False),
    SettingSpec("spool_dir", "Server and worker: where callback jobs' audio waits; with a broker, a folder every "
                "server and worker mounts.", _parse_path, lambda resolved: resolved["home"] / "jobs"),
    SettingSpec("rate_limit_storage", "Server: where per-key request counts live: memory:// (one server) or a "
                "shared store such as redis://host:6379 (pip install 'whisper-api[redis]').", str, lambda _: "memory://"),
    SettingSpec("signing_secret", "Server: the secret temporary tokens (/v1/auth/grant) are signed with, 32 "
                "characters or more, the same on every server behind one address; empty: a random one kept in "
                "$WHISPER_API_HOME/server-secret.", _parse_secret, lambda _: "", secret=True),
    SettingSpec("metrics", "Server: serve Prometheus metrics at /metrics.", _parse_bool, lambda _: True),
    SettingSpec("no_auth", "Server: accept requests without an API key (local development only).", _parse_bool,
                lambda _: False),
    SettingSpec("auto_download", "Fetch a missing catalogue model on first use, with a progress bar (CLI).",
                _parse_bool, lambda _: True),
    SettingSpec("live_full_context", "Live: decode final results with whisper's full 30 s encoder context "
                "(several times slower on short utterances; off, the context fits the utterance).", _parse_bool,
                lambda _: False),
)


@dataclass(frozen=True)
class Settings:
    home: Path
    models_dir: Path
    model: str
    threads: int
    engine: str
    weights: str
    whisper_cli: str
    models_url: str
    database_url: str
    host: str
    port: int
    workers: int
    queue_size: int
    max_upload_mb: int
    max_audio_minutes: int
    request_timeout: int
    body_timeout: float
    max_streams: int
    allowed_hosts: str
    max_jobs: int
    callback_attempts: int
    callback_retry_seconds: float
    job_retention_hours: float
    broker_url: str
    remote_workers: bool
    spool_dir: Path
    rate_limit_storage: str
    signing_secret: str = field(repr=False)
    metrics: bool
    no_auth: bool
    auto_download: bool
    live_full_context: bool
    sources: Mapping[str, str]
    """Where each value came from: flag, environment, config file or default."""

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILENAME

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1_000_000


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def is_redis_url(url: str) -> bool:
    """A Redis URL (``redis://``, ``rediss://``; also as the limits library's ``async+redis://``)."""
    return url.removeprefix("async+").startswith(("redis://", "rediss://"))


def redact(value: object) -> str:
    """A setting's value fit to print: a password inside a URL becomes ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", str(value))


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read config file {path}: {exc}") from exc
    known = {spec.name for spec in SPECS} - {"home"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r} in {path}; known: {', '.join(sorted(known))}")
    return data


def _parse(spec: SettingSpec, raw: object, origin: str) -> Any:
    if not isinstance(raw, str):
        raw = str(raw).lower() if isinstance(raw, bool) else str(raw)
    try:
        return spec.parse(raw)
    except ValueError as exc:
        shown = "***" if spec.secret else repr(raw)
        raise SettingsError(f"bad value {shown} for {spec.name} (from {origin}): {exc}") from exc


def load_settings(
    flags: Mapping[str, object | None] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting; ``flags`` holds command-line values (None = not given)."""
    flags = flags or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config: dict[str, Any] = {}
    for spec in SPECS:
        if flags.get(spec.name) is not None:
            values[spec.name], sources[spec.name] = _parse(spec, flags[spec.name], FLAG), FLAG
        elif environ.get(spec.env_var):
            values[spec.name] = _parse(spec, environ[spec.env_var], spec.env_var)
            sources[spec.name] = ENV
        elif spec.name in config:
            values[spec.name], sources[spec.name] = _parse(spec, config[spec.name], CONFIG), CONFIG
        else:
            values[spec.name], sources[spec.name] = spec.default(values), DEFAULT
        if spec.name == "home":  # the config file lives in home, so it is read once home is known
            config = _read_config_file(values["home"] / CONFIG_FILENAME)
    return Settings(**values, sources=sources)
