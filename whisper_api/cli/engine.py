"""``whisper-api engine``: what the engines are here, and building the whisper-cli binary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from whisper_api.cli.console import info, stdout
from whisper_api.cli.flags import flag
from whisper_api.errors import WhisperApiError
from whisper_api.models.packaged import PYWHISPERCPP_SOURCE, WHISPER_CPP_IN_SOURCE
from whisper_api.models.store import ModelStore
from whisper_api.settings import load_settings

app = typer.Typer(help="Inspect the speech engines; build whisper-cli or the binding for this CPU.",
                  no_args_is_help=True)


@app.command("info")
def show_info(
    whisper_cli: Annotated[str | None, typer.Option("--whisper-cli", help="Path of a whisper-cli binary.")] = None,
) -> None:
    """Show which engines are available, their whisper.cpp versions, binaries and CPU features."""
    from whisper_api.engine.info import cli_info, missing_features, native_info  # loads whisper.cpp: when asked

    settings = load_settings({"whisper_cli": whisper_cli})
    try:
        probe_model: Path | None = ModelStore(settings.models_dir).resolve(settings.model)
    except WhisperApiError:
        probe_model = None
    table = Table(title=f"default engine: {settings.engine}", title_justify="left", show_lines=True)
    for column in ("engine", "available", "whisper.cpp", "where", "CPU features"):
        table.add_column(column, overflow="fold")
    native = native_info()
    for engine in (native, cli_info(settings, probe_model)):
        table.add_row(engine.name, "yes" if engine.available else "no", engine.whisper_cpp, engine.location,
                      engine.cpu_features)
    stdout.print(table)
    if native.available and settings.engine == "native":  # the cli engine runs model files as they are
        from whisper_api.engine.native import binding_quantizes_decoder

        info(weights_line(settings.weights, native.cpu_features, binding_quantizes_decoder()))
    missing = missing_features(native.cpu_features) if native.available else []
    if missing:
        info(f"the in-process binding was built without {', '.join(missing)}, which would speed it up here: "
             "`whisper-api engine build --binding` builds it for this CPU (about 1.5x faster)")


def weights_line(weights: str, system_info: str, quantizes_decoder: bool) -> str:
    """What the native engine does with an f16 model here (the ``weights`` setting)."""
    from whisper_api.engine.weights import AUTO, runs_bf16_natively

    if weights != AUTO:
        return f"weights: {weights}: models run as their files are"
    decoder = ", their decoders quantized to q8_0 as they load" if quantizes_decoder else ""
    if runs_bf16_natively(system_info):
        return f"weights: auto: f16 models run from bf16 copies{decoder} (this binding uses the CPU's AVX512_BF16)"
    if quantizes_decoder:
        return "weights: auto: f16 and bf16 models run with their decoders quantized to q8_0 as they load"
    return ("weights: auto: models run as their files are (this binding can neither quantize a decoder as it "
            "loads nor use bf16 instructions here: `whisper-api engine build --binding` builds one that can)")


@app.command("build", help=f"Build whisper-cli from the pinned whisper.cpp source ({PYWHISPERCPP_SOURCE.requirement}, "
             f"whisper.cpp {WHISPER_CPP_IN_SOURCE}); reuses a cached build of the same pin and flags. With "
             "--binding, rebuild the in-process engine's binding from that source for this CPU instead.")
def build(
    cmake_arg: Annotated[list[str] | None, typer.Option("--cmake-arg", help="Extra CMake flag, e.g. -DGGML_CUDA=ON.")]
    = None,
    dest: Annotated[Path | None, typer.Option("--dest", help="Install folder (default: where the cli engine looks).")]
    = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Parallel compile jobs (default: cores).")]
    = None,
    force: Annotated[bool, flag("--force", help="Rebuild even when a matching build exists.")] = False,
    binding: Annotated[bool, flag("--binding", help="Build the in-process binding (pywhispercpp) for this CPU and "
                                  "install it into this Python environment (unless the installed one is "
                                  "this build already).")] = False,
) -> None:
    from whisper_api.engine.whisper_cli_build import build_binding, build_whisper_cli, default_bin_dir

    if binding:
        if dest is not None:
            raise WhisperApiError("--dest is for the whisper-cli build; "
                                  "--binding installs into this Python environment")
        from whisper_api.engine.info import binding_is_current  # loads whisper.cpp: only here

        build_binding(cmake_arg or [], jobs, current=None if force else binding_is_current, log=info)
        return
    settings = load_settings()
    build_whisper_cli(dest or default_bin_dir(settings.home), cmake_arg or [], jobs, force=force, log=info)
