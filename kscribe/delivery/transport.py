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
import http.client
import io
import json
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from certifi import where as _ca_bundle

from kscribe.delivery.signing import EVENT_HEADER, SIGNATURE_HEADER, sign
from kscribe.delivery.targets import CallbackTarget, check_url
from kscribe.errors import CallbackRefused
from kscribe.observability import metrics

# Status line and headers are all we read of a response (the body never); a receiver cannot make
# us hold more than this. Reads go through a small buffer so little of any body is even fetched.
MAX_RESPONSE_HEAD_BYTES = 16 * 1024
_READ_BUFFER_BYTES = 1024


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
