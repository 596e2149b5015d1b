"""Which network addresses deployd may connect to on a user's behalf (repositories now, webhooks later).

Public addresses only: loopback, private, link-local (cloud metadata included), shared (CGNAT), multicast,
unspecified and reserved ranges are refused, also when written as IPv4-mapped or embedded IPv6, in decimal
or octal, or behind a name that resolves to them. The embedded stack allows them (settings.allow_private_addresses),
since it builds from repositories on the same machine; AWS never does.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import InvalidInput
from chalicelib.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that `is_private`/`is_global` leave out or that deserve their own name in a refusal.
_NAMED_RANGES: tuple[tuple[str, str], ...] = (
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::/32", "cloud metadata"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("0.0.0.0/8", "unspecified"),
    ("240.0.0.0/4", "reserved"),
)
_NETWORKS = tuple((ipaddress.ip_network(cidr), name) for cidr, name in _NAMED_RANGES)
# IPv6 ranges that carry an IPv4 address inside: the IPv4 address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):")


class NonPublicAddress(InvalidInput):
    """A URL names (or resolves to) an address deployd does not connect to."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why deployd does not connect to `address` (e.g. "loopback"), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal_reason(embedded)
    for network, name in _NETWORKS:
        if address.version == network.version and address in network:
            return name
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def resolve(host: str) -> list[IPAddress]:
    """Every address `host` stands for, as connecting code would see it: getaddrinfo reads decimal, octal and
    hexadecimal IPv4 forms (2130706433, 0177.0.0.1) as well as names. Empty when the name does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def ensure_public_host(host: str, *, field: str, allow_private: bool | None = None) -> None:
    """Raise NonPublicAddress if `host` is, or resolves to, any address that is not public.

    A name that does not resolve passes: there is nothing to connect to, and every connection checks again.
    """
    if allow_private is None:
        allow_private = get_settings().allow_private_addresses
    if allow_private:
        return
    if not host:
        raise NonPublicAddress(f"{field} must name a host", field=field)
    for address in resolve(host):
        reason = refusal_reason(address)
        if reason is not None:
            # The address itself is left out: what an internal name resolves to is not for the caller to learn.
            raise NonPublicAddress(
                f"{field} must point at a public address; {host} is or resolves to {_article(reason)} {reason} address",
                field=field,
            )


def url_host(url: str) -> str:
    """The host a URL (or an scp-like `user@host:path` git address) connects to."""
    if "://" not in url:
        scp_like = _SCP_LIKE.match(url)
        return scp_like.group(1) if scp_like else ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def ensure_public_url(url: str, *, field: str, allow_private: bool | None = None) -> str:
    """Refuse a URL whose host is not public (see the module's docstring); returns the URL unchanged."""
    ensure_public_host(url_host(url), field=field, allow_private=allow_private)
    return url


def public_only_getaddrinfo(getaddrinfo: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """A getaddrinfo that refuses to hand out non-public addresses: installed in the process that fetches from
    a repository (adapters.git_remote), so whatever the name resolves to at connection time, redirects
    included, is checked, not only what it resolved to when the URL was validated."""

    def checked(host: Any, *args: Any, **kwargs: Any) -> list[Any]:
        infos = getaddrinfo(host, *args, **kwargs)
        addresses: Iterable[str] = (str(info[4][0]).split("%", 1)[0] for info in infos)
        for address in addresses:
            reason = refusal_reason(ipaddress.ip_address(address))
            if reason is not None:
                raise NonPublicAddress(f"{host!s} is or resolves to {_article(reason)} {reason} address")
        return infos

    return checked
