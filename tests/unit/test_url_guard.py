"""Which addresses url sources may reach (pure checks, no traffic)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from whisper_api.server.auth import load_secret
from whisper_api.server.fetch import AllowList, is_public


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
     "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::a00:5", "64:ff9b::7f00:1",
     "2002:7f00:1::", "2002:a00:5::1"],
)
def test_private_local_and_wrapped_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_allow_list_takes_names_and_ranges() -> None:
    allowed = AllowList.parse(" media.internal , 10.20.0.0/16,::1 ")
    assert allowed.allows("MEDIA.internal", ipaddress.ip_address("10.0.0.1"))
    assert allowed.allows("other", ipaddress.ip_address("10.20.3.4"))
    assert allowed.allows("other", ipaddress.ip_address("::1"))
    assert not allowed.allows("other", ipaddress.ip_address("10.21.0.1"))


def test_the_signing_secret_is_created_once_and_private(tmp_path: Path) -> None:
    home = tmp_path
    first = load_secret(home)
    assert len(first) == 32 and load_secret(home) == first
    assert (home / "server-secret").stat().st_mode & 0o777 == 0o600
    assert [path.name for path in home.iterdir()] == ["server-secret"]
