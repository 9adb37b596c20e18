"""``{"url": ...}`` sources: downloads that cannot be turned against the server's own network.

The host is resolved first and every address checked: loopback, private, link-local,
multicast and other non-public addresses are refused unless ``WHISPER_API_ALLOWED_HOSTS``
names the host or a range holding the address. The connection then goes to the address that
was checked (so a second DNS answer cannot swap it), with the original host name for the Host
header and TLS. Redirects are followed by hand and each hop is checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from whisper_api.server.errors import bad_request
from whisper_api.server.spool import Spooled, spool

MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, text: str) -> AllowList:
        names, networks = set(), []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item.lower())
        return cls(frozenset(names), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower() in self.names or any(address in network for network in self.networks)


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address some IPv6 forms carry: mapped, 6to4, Teredo, NAT64, IPv4-compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in NAT64) or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable, not multicast, and not an IPv6 wrapper around a non-public IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    return address.is_global and not address.is_multicast


async def _checked_address(url: httpx.URL, allowed: AllowList, what: str = "url") -> IPAddress:
    if url.scheme not in ("http", "https") or not url.host:
        raise bad_request(f"Bad Request: {what} must be an http or https URL.")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise bad_request(f"Bad Request: the {what}'s port is out of range.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise bad_request(f"Bad Request: could not resolve the {what}'s host {url.host}.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not (is_public(address) or allowed.allows(url.host, address)):
            raise bad_request(f"Bad Request: the {what}'s host {url.host} resolves to {address}, a private or local "
                              "address; the server only fetches public addresses unless WHISPER_API_ALLOWED_HOSTS "
                              "allows it.")
    return addresses[0]


async def fetch_url(url_text: str, dest: Path, max_bytes: int, timeout: float, allowed: AllowList) -> Spooled:
    # trust_env=False: a proxy from the environment would connect by name and undo the pinning.
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False,
                                 trust_env=False) as client:
        try:
            return await asyncio.wait_for(_follow(client, httpx.URL(url_text), dest, max_bytes, allowed), timeout)
        except asyncio.TimeoutError:
            raise bad_request(f"Bad Request: fetching the url took longer than {timeout:g} s.") from None
        except (httpx.InvalidURL, ValueError, TypeError, OverflowError):
            raise bad_request("Bad Request: the url (or a redirect it gave) is not a valid URL.") from None
        except httpx.HTTPError as exc:
            raise bad_request(f"Bad Request: could not fetch the url ({type(exc).__name__}).") from None


async def pinned_request(client: httpx.AsyncClient, method: str, url: httpx.URL, allowed: AllowList,
                         content: bytes | None = None, headers: dict[str, str] | None = None,
                         what: str = "url") -> httpx.Request:
    """A request to the checked address of ``url``'s host, with the host name kept for Host and TLS.

    Credentials in the URL (``https://user:pass@host/``) become basic auth, as httpx does for any URL.
    """
    address = await _checked_address(url, allowed, what)
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return client.build_request(method, url.copy_with(host=str(address)), content=content,
                                headers={**(headers or {}), "Host": url.netloc.decode("ascii")}, extensions=extensions)


async def check_url(url_text: str, allowed: AllowList, what: str) -> None:
    """Raises 400 unless ``url_text`` is an http(s) URL whose host resolves to allowed addresses only."""
    try:
        await _checked_address(httpx.URL(url_text), allowed, what)
    except (httpx.InvalidURL, ValueError, TypeError, OverflowError):
        raise bad_request(f"Bad Request: the {what} is not a valid URL.") from None


async def _follow(client: httpx.AsyncClient, url: httpx.URL, dest: Path, max_bytes: int,
                  allowed: AllowList) -> Spooled:
    for _ in range(MAX_REDIRECTS + 1):
        request = await pinned_request(client, "GET", url, allowed)
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect and "location" in response.headers:
                url = httpx.URL(urljoin(str(url), response.headers["location"]))
                continue
            if response.status_code != 200:
                raise bad_request(f"Bad Request: the url answered HTTP {response.status_code}.")
            return await spool(response.aiter_bytes(1 << 16), dest, max_bytes, "The url's content")
        finally:
            await response.aclose()
    raise bad_request(f"Bad Request: the url redirected more than {MAX_REDIRECTS} times.")
