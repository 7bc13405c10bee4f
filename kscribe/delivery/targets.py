"""Where a callback may go (SSRF): the URL parsed once, strictly; internal addresses refused
unless allowed; the addresses it resolved to returned, so the send connects to one of them."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kscribe.errors import CallbackRefused


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URL as ``check_url`` checked it: ``send`` connects to one of ``addresses`` and
    uses ``host`` only as the Host header and the TLS server name."""

    scheme: str  # "http" or "https"
    host: str  # lower-case DNS name, or an IP literal (IPv6 without brackets)
    port: int
    path: str  # path and query, as sent in the request line; the fragment is dropped
    addresses: tuple[str, ...]  # every address the host resolved to, each checked

    @property
    def authority(self) -> str:
        """The Host header: the name as the tenant wrote it, port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.scheme == "https" else 80) else f"{host}:{self.port}"


def check_url(url: str, allow: Sequence[str] = (), resolve: Callable[[str], list[str]] | None = None) -> CallbackTarget:
    """Parse ``url`` and return what was checked, or raise ``CallbackRefused``.

    Refused: anything but ``http(s)://host[:port][/path][?query]`` written plainly (userinfo,
    backslashes, whitespace, control or non-ASCII characters, an empty host, a port that is not
    1-65535, IPv4 in any spelling but dotted decimal), and hosts with any address that is not
    public (loopback, private, link-local, shared, multicast, ...) unless the host, or that
    address through an IP or CIDR, is on ``allow`` (KSCRIBE_CALLBACK_ALLOW).
    ``resolve(host) -> [address, ...]`` replaces DNS (tests); IP literals are not resolved.
    """
    scheme, host, port, path = _parse(url)
    if _ip(host) is not None:
        found = [host]
    else:
        try:
            found = list((resolve or _resolve)(host))
        except OSError as exc:
            raise CallbackRefused(f"callback host {host} does not resolve: {exc}") from None
        if not found:
            raise CallbackRefused(f"callback host {host} does not resolve")
    addresses = []
    for text in found:
        address = _ip(str(text).split("%", 1)[0])
        if address is None:
            raise CallbackRefused(f"callback host {host} does not resolve to an IP address")
        if not _allowed(host, address, allow) and _internal(address):
            # The address is not told: the answer must not map internal names for a tenant.
            raise CallbackRefused(f"callback host {host} resolves to an internal address")
        if str(address) not in addresses:
            addresses.append(str(address))
    return CallbackTarget(scheme, host, port, path, tuple(addresses))


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"


_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


# A last label like these makes resolvers read the host as an IPv4 address (inet_aton accepts
# 127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1): only the canonical dotted form is let through.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


_PORT = re.compile(r"[0-9]{1,5}")


def _parse(url: object) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url:
        raise CallbackRefused("callback_url must be an http(s) URL")
    # urlsplit quietly drops tabs and newlines and other clients each treat the rest their own
    # way, so what the check reads and what a connection would use could differ: refuse instead.
    odd = next((c for c in url if not " " < c < "\x7f"), None)
    if odd is not None:
        raise CallbackRefused(
            f"callback_url must not contain whitespace, control or non-ASCII characters "
            f"(found {odd!r}); percent-encode them"
        )
    if "\\" in url:
        raise CallbackRefused("callback_url must not contain backslashes")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("http", "https"):
        raise CallbackRefused(f"callback_url must be an http(s) URL, not {url!r}")
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:].split("#", 1)[0]
    if "@" in authority:
        raise CallbackRefused("callback_url must not contain user information (user@host)")
    host, port = _split_authority(authority, scheme)
    return scheme, host, port, path if path.startswith("/") else "/" + path


def _split_authority(authority: str, scheme: str) -> tuple[str, int]:
    if authority.startswith("["):
        literal, bracket, after = authority[1:].partition("]")
        try:
            if not bracket or "%" in literal:
                raise ValueError(literal)
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise CallbackRefused(f"callback_url host [{literal}] is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise CallbackRefused(f"callback_url has {after!r} after its IPv6 host")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text = authority.partition(":")
        host, port_text = host.lower(), port_text if colon else None
        if not host:
            raise CallbackRefused("callback_url has no host")
        if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
            address = _ip(host)
            if address is None or address.version != 4 or str(address) != host:
                raise CallbackRefused(
                    f"callback_url host {host} is ambiguous: write IPv4 addresses as four decimal numbers"
                )
        elif len(host) > 253 or not _HOST_NAME.fullmatch(host):
            raise CallbackRefused(f"callback_url host {host!r} is not a valid host name")
    if port_text is None:
        return host, 443 if scheme == "https" else 80
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise CallbackRefused(f"callback_url port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _allowed(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: Sequence[str]) -> bool:
    for entry in allow:
        if entry.strip().lower() == host:
            return True
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


# IPv6 forms that carry an IPv4 address a gateway may forward to (ipaddress calls 6to4 and NAT64
# addresses global whatever IPv4 address they embed), and reserved ranges it does not flag.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


_ALSO_INTERNAL = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    # SIIT's IPv4-translated addresses (RFC 2765): behind a translator, IPv4.
    ipaddress.ip_network("::ffff:0:0:0/96"),
)


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    candidates = [address]
    if address.version == 6:
        if any(address in network for network in _ALSO_INTERNAL):
            return True
        candidates += [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return any(not a.is_global or a.is_multicast for a in candidates)


def _resolve(host: str) -> list[str]:
    # getaddrinfo's order is the system's preference (RFC 6724); send tries addresses in it.
    found = [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
    return list(dict.fromkeys(found))
