"""``whisper-api config``: every setting's effective value and where it came from."""

from __future__ import annotations

from rich.table import Table

from whisper_api.cli.console import stdout
from whisper_api.settings import SPECS, load_settings


def show_config() -> None:
    """Show the effective settings and where each came from (flag, environment, config file, default)."""
    settings = load_settings()
    table = Table(title=f"config file: {settings.config_file}", title_justify="left")
    for column in ("setting", "value", "source", "environment variable"):
        table.add_column(column)
    for spec in SPECS:
        table.add_row(spec.name, str(getattr(settings, spec.name)), settings.sources[spec.name], spec.env_var)
    stdout.print(table)
