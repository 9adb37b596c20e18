"""Settings resolve as flags > environment > config file > defaults, and say where each came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from whisper_api.errors import SettingsError
from whisper_api.settings import load_settings


def test_defaults_live_under_home(home: Path) -> None:
    settings = load_settings()
    assert settings.home == home
    assert settings.models_dir == home / "models"
    assert settings.model == "base"
    assert settings.sources["model"] == "default"


def test_flag_beats_environment_beats_config_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir()
    (home / "config.toml").write_text('model = "small"\nthreads = 3\nauto_download = true\n')
    monkeypatch.setenv("WHISPER_API_MODEL", "tiny")
    settings = load_settings({"model": "medium"})
    assert (settings.model, settings.sources["model"]) == ("medium", "flag")
    assert (load_settings().model, load_settings().sources["model"]) == ("tiny", "environment")
    assert (settings.threads, settings.sources["threads"]) == (3, "config file")
    assert settings.auto_download is True


def test_models_dir_can_move_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISPER_API_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().models_dir == tmp_path / "elsewhere"


def test_bad_values_name_the_setting_and_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISPER_API_THREADS", "zero")
    with pytest.raises(SettingsError, match=r"threads.*WHISPER_API_THREADS"):
        load_settings()


def test_unknown_config_keys_are_rejected(home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text('modle = "tiny"\n')
    with pytest.raises(SettingsError, match="unknown setting 'modle'"):
        load_settings()


def test_broken_config_file_is_a_clear_error(home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text("model = \n")
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings()


def test_config_command_shows_values_and_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli("config", env={"WHISPER_API_THREADS": "3", "COLUMNS": "200"})
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "WHISPER_API_THREADS" in out
    threads_row = next(line for line in out.splitlines() if " threads " in line)
    assert "3" in threads_row
    assert "environment" in threads_row
    assert "CPU threads per transcription" in threads_row


def test_config_never_prints_a_database_password() -> None:
    url = "postgresql+psycopg://whisper:hunter2@db.internal:5432/keys"
    out = run_cli("config", env={"WHISPER_API_DATABASE_URL": url, "COLUMNS": "300"}).stdout.decode()
    assert "hunter2" not in out
    assert "postgresql+psycopg://whisper:***@db.internal:5432/keys" in out


def test_the_signing_secret_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-" * 6
    out = run_cli("config", env={"WHISPER_API_SIGNING_SECRET": secret, "COLUMNS": "300"}).stdout.decode()
    assert secret not in out and "signing_secret" in out
    monkeypatch.setenv("WHISPER_API_SIGNING_SECRET", "too-short")
    with pytest.raises(SettingsError, match="at least 32 characters") as refused:
        load_settings()
    assert "too-short" not in str(refused.value)


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2 with a limit
    ({"cpu.max": "max 100000\n"}, None),  # v2, no limit
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no limit
    ({}, None),  # no cgroup files at all
])
def test_a_cgroup_cpu_quota_limits_the_usable_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    files: dict[str, str], quota: float | None) -> None:
    from whisper_api import settings

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(settings, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(settings.os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert settings.cgroup_quota() == quota
    assert settings.usable_cores() == (16 if quota is None else 2)


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 1, 2), (2, 3, 1), (16, 1, 4), (16, 3, 4), (8, 4, 2)])
def test_default_threads_share_the_cores_among_the_workers(monkeypatch: pytest.MonkeyPatch, home: Path, cores: int,
                                                           workers: int, threads: int) -> None:
    from whisper_api import settings

    monkeypatch.setattr(settings, "usable_cores", lambda: cores)
    resolved = load_settings({"workers": workers})
    assert resolved.threads == threads
    slots, warning = settings.engine_slots(resolved)
    assert slots * resolved.threads <= cores and (warning is None) == (slots == workers)


@pytest.mark.parametrize(("workers", "threads", "slots", "says"), [
    (3, 1, 2, "2 decode at once"), (3, 2, 1, "1 decode at once"), (1, 4, 1, "4 threads per decode on 2")])
def test_more_than_the_cores_never_decode_at_once(monkeypatch: pytest.MonkeyPatch, home: Path, workers: int,
                                                   threads: int, slots: int, says: str) -> None:
    from whisper_api import settings

    monkeypatch.setattr(settings, "usable_cores", lambda: 2)
    found, warning = settings.engine_slots(load_settings({"workers": workers, "threads": threads}))
    assert found == slots and warning is not None and says in warning


def test_weights_are_auto_unless_stored_is_asked(home: Path) -> None:
    assert load_settings().weights == "auto"
    assert load_settings({"weights": "Stored"}).weights == "stored"
    with pytest.raises(SettingsError, match="must be auto or stored"):
        load_settings({"weights": "fast"})
