"""Signed callbacks: POST a finished job's summary to its callback URL.

Signature header ``Kscribe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, computed over
``f"{t}.{body}"`` with the shared callback secret; receivers recompute it and reject stale
timestamps. Callback URLs that resolve to internal addresses are refused (SSRF), when the job
is created and again just before sending, since DNS can change in between.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from kscribe import metrics
from kscribe.errors import CallbackRefused

SIGNATURE_HEADER = "Kscribe-Signature"
EVENT_HEADER = "Kscribe-Event"


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


def _allowed(host: str, address: ipaddress._BaseAddress, allow: Sequence[str]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url(url: str, allow: Sequence[str] = (),
              resolve: Callable[[str], list[str]] | None = None) -> None:
    """Raise ``CallbackRefused`` unless ``url`` is http(s) and every address it resolves to
    is public, or the host / an address is on the allow-list (hostnames, IPs or CIDRs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused(f"callback_url must be an http(s) URL, not {url!r}")
    host = parts.hostname
    resolve = resolve or _resolve
    try:
        addresses = resolve(host)
    except OSError as exc:
        raise CallbackRefused(f"callback host {host} does not resolve: {exc}") from None
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _allowed(host, address, allow):
            continue
        if not address.is_global or address.is_multicast:
            raise CallbackRefused(f"callback host {host} resolves to {address}, an internal address")


def _resolve(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


@dataclass(frozen=True)
class CallbackOutcome:
    delivered: bool
    attempts: int
    status_code: int
    error: str


def send(url: str, payload: dict, secret: str, event_type: str, allow: Sequence[str] = (), attempts: int = 5,
         backoff_s: float = 1.0, timeout_s: float = 10.0, sleep: Callable[[float], None] = time.sleep,
         session: requests.Session | None = None) -> CallbackOutcome:
    """POST ``payload`` signed, retrying 5xx, 429 and network errors with exponential backoff."""
    session = session or requests.Session()
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    code, error = 0, ""
    for attempt in range(1, attempts + 1):
        try:
            check_url(url, allow)  # again at send time: DNS may have changed since creation
        except CallbackRefused as exc:
            metrics.CALLBACKS.labels("refused").inc()
            return CallbackOutcome(False, attempt - 1, 0, str(exc))
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, int(time.time()), body),
                   EVENT_HEADER: event_type, "User-Agent": "kscribe-callback/1"}
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout_s, allow_redirects=False)
            code, error = response.status_code, "" if response.ok else response.text[:200]
            if 200 <= code < 300:
                metrics.CALLBACKS.labels("delivered").inc()
                return CallbackOutcome(True, attempt, code, "")
            metrics.CALLBACKS.labels("rejected" if code < 500 and code != 429 else "error").inc()
            if code < 500 and code != 429:
                return CallbackOutcome(False, attempt, code, f"HTTP {code}: {error}")
        except requests.RequestException as exc:
            metrics.CALLBACKS.labels("error").inc()
            code, error = 0, str(exc)[:200]
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    return CallbackOutcome(False, attempts, code, f"HTTP {code}: {error}" if code else error)
