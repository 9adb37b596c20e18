"""``whisper-api keys``: create, list, show and revoke API keys, offline, in the key database.

A new key's secret goes to stdout once (alone, so ``KEY=$(whisper-api keys create)`` works);
everything else goes to stderr or into tables that never hold a secret.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from whisper_api.cli.console import stderr, stdout, warn
from whisper_api.errors import WhisperApiError
from whisper_api.settings import load_settings

if TYPE_CHECKING:
    from whisper_api.keys import ApiKey, KeyStore

app = typer.Typer(help="Create, list, show and revoke API keys for the server.", no_args_is_help=True)


def _store() -> KeyStore:
    try:
        from whisper_api.keys import KeyStore
    except ImportError:
        raise WhisperApiError("API keys need the server extra: pip install 'whisper-api[server]'") from None
    return KeyStore(load_settings().database_url)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _as_json(key: ApiKey, now: datetime) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "scopes": list(key.scopes), "status": key.status(now),
            "created": key.created_at.isoformat(), "expires": key.expires_at and key.expires_at.isoformat(),
            "revoked": key.revoked_at and key.revoked_at.isoformat(),
            "last_used": key.last_used_at and key.last_used_at.isoformat(),
            "requests": key.requests, "audio_seconds": round(key.audio_seconds, 3)}


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="listen (default) or admin; repeatable.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="30d, 12h, 2w, 90m, or a date: 2027-01-01.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its details as JSON.")] = False,
) -> None:
    """Create a key; its secret is printed this once and never again."""
    from whisper_api.keys import parse_expiry, utc_now

    store = _store()
    expires_at = parse_expiry(expires, utc_now()) if expires else None
    key, token = store.create(name, tuple(scope or ["listen"]), expires_at)
    if as_json:
        typer.echo(json.dumps({"key": token.text, **_as_json(key, utc_now())}))
    else:
        typer.echo(token.text)
    stderr.print(f"created key {key.id} ({', '.join(key.scopes)}; expires {_when(key.expires_at)})", markup=False)
    warn("this is the only time the key is shown: store it now")


@app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False) -> None:
    """List keys: id, name, scopes, dates and status (never a secret)."""
    from whisper_api.keys import utc_now

    store, now = _store(), utc_now()
    keys = store.list()
    if as_json:
        for key in keys:
            typer.echo(json.dumps(_as_json(key, now)))
        return
    table = Table(title=f"keys in {store.display_url}", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=12)
    for column in ("name", "scopes", "created", "expires", "last used", "status"):
        table.add_column(column)
    for key in keys:
        table.add_row(key.id, key.name, ",".join(key.scopes), _when(key.created_at), _when(key.expires_at),
                      _when(key.last_used_at), key.status(now))
    stdout.print(table)


@app.command("show")
def show(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Show one key's details and usage."""
    from whisper_api.keys import utc_now

    key, now = _store().get(key_id), utc_now()
    table = Table(show_header=False)
    for field, value in _as_json(key, now).items():
        table.add_row(field, ", ".join(value) if isinstance(value, list) else str("-" if value is None else value))
    stdout.print(table)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: the server refuses it from the next request on."""
    key = _store().revoke(key_id)
    stderr.print(f"revoked key {key.id} at {_when(key.revoked_at)}", markup=False)
