"""``whisper-api keys``: create, list, show and revoke API keys, offline, in the key database.

A new key's secret goes to stdout once (alone, so ``KEY=$(whisper-api keys create)`` works);
everything else goes to stderr or into tables that never hold a secret.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from whisper_api.cli.console import stderr, stdout, warn
from whisper_api.cli.flags import flag
from whisper_api.clock import utc_now
from whisper_api.errors import WhisperApiError
from whisper_api.settings import load_settings

if TYPE_CHECKING:
    from whisper_api.keys import ApiKey, DayUsage, KeyLimits, KeyStore

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
            "requests": key.requests, "audio_seconds": round(key.audio_seconds, 3), **_limits_json(key.limits)}


def _limits_json(limits: KeyLimits) -> dict[str, Any]:
    return {"requests_per_minute": limits.requests_per_minute, "concurrent_streams": limits.concurrent_streams,
            "audio_minutes_quota": limits.audio_minutes,
            "quota_period": limits.quota_period if limits.audio_minutes is not None else None}


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="listen (default) or admin; repeatable.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="30d, 12h, 2w, 90m, or a date: 2027-01-01.")]
    = None,
    as_json: Annotated[bool, flag("--json", help="Print the key and its details as JSON.")] = False,
) -> None:
    """Create a key; its secret is printed this once and never again."""
    store = _store()
    from whisper_api.keys import parse_expiry  # once _store has said whether the server extra is there

    expires_at = parse_expiry(expires, utc_now()) if expires else None
    key, token = store.create(name, tuple(scope or ["listen"]), expires_at)
    if as_json:
        typer.echo(json.dumps({"key": token.text, **_as_json(key, utc_now())}))
    else:
        typer.echo(token.text)
    stderr.print(f"created key {key.id} ({', '.join(key.scopes)}; expires {_when(key.expires_at)})", markup=False)
    warn("this is the only time the key is shown: store it now")


@app.command("list")
def list_keys(as_json: Annotated[bool, flag("--json", help="Print JSON lines.")] = False) -> None:
    """List keys: id, name, scopes, dates and status (never a secret)."""
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


@app.command("limit")
def limit(
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    rpm: Annotated[int | None, typer.Option("--rpm", min=0, help="Requests per minute.")] = None,
    streams: Annotated[int | None, typer.Option("--streams", min=0, help="Live streams at once.")] = None,
    quota_minutes: Annotated[float | None, typer.Option("--quota-minutes", min=0,
                                                        help="Audio minutes per quota period.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Quota period: day or month (default).")] = None,
    clear: Annotated[bool, flag("--clear", help="Remove every limit from the key.")] = False,
) -> None:
    """Set a key's limits; options not given keep their value. Running servers apply them at once."""
    from whisper_api.keys import KeyLimits

    store = _store()
    old = KeyLimits() if clear else store.get(key_id).limits
    new = KeyLimits(old.requests_per_minute if rpm is None else rpm,
                    old.concurrent_streams if streams is None else streams,
                    old.audio_minutes if quota_minutes is None else quota_minutes, period or old.quota_period)
    key = store.set_limits(key_id, new)
    shown = {name: value for name, value in _limits_json(key.limits).items() if value is not None}
    stderr.print(f"key {key.id}: " + (", ".join(f"{name} {value}" for name, value in shown.items()) or "no limits"),
                 markup=False)


@app.command("usage")
def usage(
    key_id: Annotated[str | None, typer.Argument(help="A key's id; default: every key.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC); default: 30 days ago.")]
    = None,
    as_json: Annotated[bool, flag("--json", help="Print JSON lines.")] = False,
) -> None:
    """Requests and audio minutes per key and per day (UTC)."""
    first = _day(since) if since else (utc_now() - timedelta(days=30)).date()
    days = _store().usage(key_id, first)
    if as_json:
        for day in days:
            typer.echo(json.dumps({"key": day.key_id, "day": day.day.isoformat(), "requests": day.requests,
                                   "audio_seconds": round(day.audio_seconds, 3)}))
        return
    stdout.print(_usage_table(days, first))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise WhisperApiError(f"bad date '{text}'; use YYYY-MM-DD") from None


def _usage_table(days: list[DayUsage], first: date) -> Table:
    table = Table(title=f"usage since {first.isoformat()} (UTC)", title_justify="left", show_footer=bool(days))
    table.add_column("day", footer="total")
    table.add_column("key", no_wrap=True)
    table.add_column("requests", justify="right", footer=str(sum(day.requests for day in days)))
    total_minutes = sum(day.audio_seconds for day in days) / 60
    table.add_column("audio minutes", justify="right", footer=f"{total_minutes:.2f}")
    for day in days:
        table.add_row(day.day.isoformat(), day.key_id, str(day.requests), f"{day.audio_seconds / 60:.2f}")
    return table
