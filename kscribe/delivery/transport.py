"""Signed callbacks: POST a finished job's summary to its callback URL.

Signature header ``Kscribe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, computed over
``f"{t}.{body}"`` with the shared callback secret; receivers recompute it and reject stale
timestamps.

Callback URLs are tenant input aimed at our network, so (SSRF):
- ``check_url`` parses the URL once, strictly, and refuses anything two parsers could read
  differently (userinfo, backslashes, whitespace or control characters, odd IPv4 spellings,
  non-ASCII); it returns the ``CallbackTarget`` it checked, addresses included.
- ``send`` checks again before each attempt (DNS can change after the job was created) and
  connects to an address that check returned: nothing resolves the name a second time, so a
  rebinding resolver cannot swap in an internal address between check and connection. The
  name is kept only for the Host header and TLS (SNI and certificate verification).
- The receiver's answer is reduced to its status code. Its body is never read and never shown
  to the tenant (``callback.error`` is "HTTP 503" or kscribe's own words for a network error),
  so a callback cannot be used to read internal responses, and a huge or endless body costs
  nothing. Every attempt, and the whole send, end by a deadline however slowly the receiver
  trickles bytes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import io
import ipaddress
import json
import re
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from certifi import where as _ca_bundle

from kscribe.errors import CallbackRefused
from kscribe.observability import metrics

SIGNATURE_HEADER = "Kscribe-Signature"
EVENT_HEADER = "Kscribe-Event"

# Status line and headers are all we read of a response (the body never); a receiver cannot make
# us hold more than this. Reads go through a small buffer so little of any body is even fetched.
MAX_RESPONSE_HEAD_BYTES = 16 * 1024
_READ_BUFFER_BYTES = 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance_s: int = 300) -> bool:
    """What a receiver does: check the signature and that it is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


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


@dataclass(frozen=True)
class CallbackOutcome:
    delivered: bool
    attempts: int
    status_code: int
    error: str  # shown to the tenant: "HTTP 503", or kscribe's words for what failed; never response bytes
    # Sending again cannot help (a refused URL, a 4xx answer): the reconciler does not re-send.
    final: bool = False


# The most one ``send`` takes, all attempts and backoff together (under notify's timeout).
SEND_DEADLINE_S = 120.0


def send(
    url: str,
    payload: dict[str, Any],
    secret: str,
    event_type: str,
    allow: Sequence[str] = (),
    attempts: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 10.0,
    deadline_s: float = SEND_DEADLINE_S,
    sleep: Callable[[float], None] = time.sleep,
    resolve: Callable[[str], list[str]] | None = None,
    connect: Callable[[tuple[str, int], float], socket.socket] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> CallbackOutcome:
    """POST ``payload`` signed, retrying 5xx, 429 and network errors with exponential backoff.

    Before each attempt the URL is checked again (``check_url`` with ``allow``/``resolve``) and
    the connection goes to a checked address, a different one each retry when there are several.
    Redirects are not followed (a 3xx is a failed delivery).

    ``timeout_s``: the most one attempt takes, connecting, TLS, sending and reading the response
    head together. ``deadline_s``: the most the whole send takes; no attempt or backoff sleep
    starts that would end past it (keep it under notify's request timeout). ``connect((ip,
    port), timeout) -> socket`` opens the TCP connection (default: a plain connect to the numeric
    address, no lookup); ``ssl_context`` verifies HTTPS receivers (default: the system's TLS
    defaults with certifi's CA bundle, as requests uses).
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    give_up_at = time.monotonic() + deadline_s
    code, error = 0, ""
    for attempt in range(1, attempts + 1):
        try:
            target = check_url(url, allow, resolve)  # again at send time: DNS may have changed since creation
        except CallbackRefused as exc:
            metrics.CALLBACKS.labels("refused").inc()
            return CallbackOutcome(False, attempt - 1, 0, str(exc), final=True)
        address = target.addresses[(attempt - 1) % len(target.addresses)]
        headers = {
            "Host": target.authority,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            EVENT_HEADER: event_type,
            "User-Agent": "kscribe-callback/1",
            "Connection": "close",
        }
        try:
            code, error = (
                _post(
                    target,
                    address,
                    body,
                    headers,
                    min(time.monotonic() + timeout_s, give_up_at),
                    connect or _open,
                    ssl_context,
                ),
                "",
            )
        except (OSError, http.client.HTTPException, _ResponseTooLarge) as exc:
            metrics.CALLBACKS.labels("error").inc()
            code, error = 0, _describe(exc)
        else:
            if 200 <= code < 300:
                metrics.CALLBACKS.labels("delivered").inc()
                return CallbackOutcome(True, attempt, code, "")
            error = f"HTTP {code}"
            permanent = code < 500 and code != 429
            metrics.CALLBACKS.labels("rejected" if permanent else "error").inc()
            if permanent:
                return CallbackOutcome(False, attempt, code, error, final=True)
        if attempt < attempts:
            delay = backoff_s * 2 ** (attempt - 1)
            if time.monotonic() + delay >= give_up_at:
                return CallbackOutcome(False, attempt, code, f"{error} (gave up at the {deadline_s:g} s deadline)")
            sleep(delay)
    return CallbackOutcome(False, attempts, code, error)


class _ResponseTooLarge(Exception):
    pass


def _post(
    target: CallbackTarget,
    address: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    connect: Callable[[tuple[str, int], float], socket.socket],
    context: ssl.SSLContext | None,
) -> int:
    """One attempt: the response's status code. Only the status line and headers are read."""
    sock = connect((address, target.port), _remaining(deadline))
    try:
        if target.scheme == "https":
            # SNI and certificate verification for the name the tenant gave, on a connection to
            # the address that was checked.
            sock = (context or _default_context()).wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            _handshake(sock, deadline)
        connection = http.client.HTTPConnection(address, target.port)
        connection.sock = _DeadlineSocket(sock, deadline)  # http.client sends and reads through it
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.close()
        return response.status
    finally:
        sock.close()


def _open(address: tuple[str, int], timeout: float) -> socket.socket:
    """A TCP connection to a numeric address: no name lookup can happen here."""
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


@functools.lru_cache(maxsize=1)
def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=_ca_bundle())


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return left


def _wait(sock: socket.socket, events: int, deadline: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(sock, events)
        if not selector.select(_remaining(deadline)):
            raise TimeoutError("deadline reached")


def _handshake(sock: ssl.SSLSocket, deadline: float) -> None:
    # Non-blocking: a blocking handshake gives each read the whole timeout, and a receiver that
    # sends its certificate a byte at a time would stretch it without end.
    sock.setblocking(False)
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            _wait(sock, selectors.EVENT_READ, deadline)
        except ssl.SSLWantWriteError:
            _wait(sock, selectors.EVENT_WRITE, deadline)


class _DeadlineSocket:
    """The socket as http.client sees it: every send and read must finish by ``deadline``.

    A socket timeout bounds one read; a receiver trickling a byte per read would never hit it,
    so each read gets only the time left. Reads stop at ``MAX_RESPONSE_HEAD_BYTES``.
    """

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._sock.settimeout(_remaining(self._deadline))
            view = view[self._sock.send(view[:65536]) :]

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline), _READ_BUFFER_BYTES)

    def close(self) -> None:
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline, self.bytes_read = sock, deadline, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = MAX_RESPONSE_HEAD_BYTES - self.bytes_read
        if room <= 0:
            raise _ResponseTooLarge()
        self._sock.settimeout(_remaining(self._deadline))
        count = self._sock.recv_into(memoryview(buffer)[:room])
        self.bytes_read += count
        return count


def _describe(exc: BaseException) -> str:
    """kscribe's words for a failed attempt. Never the exception's own text: http.client quotes
    the status line it could not parse, which is the receiver's bytes."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, _ResponseTooLarge):
        return f"response headers over {MAX_RESPONSE_HEAD_BYTES} bytes"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"  # OpenSSL's words, and our host name
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)  # OpenSSL's reason code, e.g. WRONG_VERSION_NUMBER
        return f"TLS failed ({reason})" if reason else "TLS failed"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, http.client.HTTPException):
        return "malformed HTTP response"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    strerror = getattr(exc, "strerror", None)
    return f"network error: {strerror}" if strerror else "network error"
