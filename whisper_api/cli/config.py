"""``whisper-api config``: every setting's effective value and where it came from."""

from __future__ import annotations

from rich.table import Table

from whisper_api.cli.console import stdout
from whisper_api.settings import SPECS, load_settings, redact


def show_config() -> None:
    """Show every setting: its value, where it came from (flag, environment, config file, default), its
    environment variable and what it means."""
    settings = load_settings()
    table = Table(title=f"config file: {settings.config_file}", title_justify="left")
    for column in ("setting", "value", "source", "environment variable", "meaning"):
        table.add_column(column, overflow="fold")
    for spec in SPECS:
        value = getattr(settings, spec.name)
        shown = ("***" if value else "") if spec.secret else redact(value)
        table.add_row(spec.name, shown, settings.sources[spec.name], spec.env_var, spec.help)
    stdout.print(table)
