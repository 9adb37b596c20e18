"""The fast tier: in-process (Litestar's test client, typer's runner), no subprocess, no model run.

`make test-fast` runs this folder alone; `make test` runs it with the end-to-end tests beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from litestar.testing import TestClient

from whisper_api.keys import KeyStore
from whisper_api.server.app import create_app
from whisper_api.settings import load_settings


@pytest.fixture
def client(home: Path, micro_model: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """The whole app, in this process, with a random-weight model as the default (it is never run here)."""
    with TestClient(create_app(load_settings({"model": str(micro_model)}))) as test_client:
        yield test_client


@pytest.fixture
def keys(home: Path) -> dict[str, str]:
    """Keys in the app's database: listen, admin, revoked (a listen key), expired (a day ago)."""
    url = load_settings().database_url
    store = KeyStore(url)
    past = datetime.now(timezone.utc) - timedelta(days=2)
    stale = KeyStore(url, clock=lambda: past)
    try:
        made = {scope: store.create(scope, (scope,))[1].text for scope in ("listen", "admin")}
        made["revoked"] = store.create("revoked")[1].text
        store.revoke(made["revoked"])
        made["expired"] = stale.create("expired", expires_at=past + timedelta(days=1))[1].text
        return made
    finally:
        store.close()
        stale.close()
