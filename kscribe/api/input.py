"""Untrusted HTTP input for the API, taken no further than needed: the client's address
behind proxies, a body read with a cap, JSON whose nesting is bounded before it is parsed."""

from __future__ import annotations

import io
import ipaddress
import json
from collections.abc import Callable, Sequence
from typing import IO, Any

BodyReader = Callable[[int], bytes]
MAX_JSON_DEPTH = 32
_READ_SIZE = 64 * 1024


class BodyTooLarge(ValueError):
    """The request body is over the limit (declared or actually sent)."""


def client_address(remote_addr: str, forwarded_for: str, trusted_proxies: Sequence[str], gateway_hops: int = 0) -> str:
    """The address to hold a client to, behind proxies whose addresses are in
    ``trusted_proxies`` (CIDRs: the cluster's pod and service ranges, loopback, a load
    balancer's).

    Each proxy appends the address it received the request from to X-Forwarded-For, so the
    entries written by our own proxies are on the right and everything left of them is
    whatever the client sent (``curl -H 'X-Forwarded-For: 1.2.3.4'`` puts a chosen address
    leftmost). Walking from the peer leftwards, the first address that is not one of our
    proxies is the client. Counting a fixed number of hops would not do: behind Knative the
    activator is in the path only some of the time.

    ``gateway_hops`` more addresses beyond the trusted ones are proxies too: the ingress
    gateway's, which no range names (its pods are in the cluster's pod range, as every other
    pod is, so trusting that range let any pod choose its own address through the gateway).
    Should another hop sit in between (Knative's activator, while the api scales from zero),
    the client is taken to be that hop: a shared address, never one a client wrote.
    """
    networks = []
    for cidr in trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    if not networks and not gateway_hops:
        return remote_addr

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False  # not an address: the client's own text
        return any(ip in net for net in networks)

    chain = [remote_addr, *reversed([e.strip() for e in forwarded_for.split(",") if e.strip()])]
    hops = gateway_hops
    for address in chain:
        if trusted(address):
            continue
        if hops > 0:
            hops -= 1
            continue
        return address
    return chain[-1]


def stream_reader(stream: IO[bytes], content_length: int | None) -> BodyReader:
    """A reader of ``stream`` that refuses a body over ``limit`` bytes: from the declared
    Content-Length without reading anything, else (chunked bodies) once limit + 1 bytes came."""

    def read(limit: int) -> bytes:
        if content_length is not None and content_length > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        parts, size = [], 0
        while size <= limit:
            part = stream.read(min(_READ_SIZE, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        return b"".join(parts)

    return read


def bytes_reader(body: bytes) -> BodyReader:
    """A reader over a body already in memory (tests, the CLI)."""
    return stream_reader(io.BytesIO(body), len(body))


def no_body(limit: int) -> bytes:
    return b""


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``: one pass, no recursion and no
    backtracking (a regex over strings took quadratic time on an unterminated one — 15 s for
    64 KiB of escaped quotes). Brackets inside strings do not count, as for the parser."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_bounded(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for UTF-8 bodies nested at most ``max_depth`` deep; ValueError otherwise.

    Python's decoder recurses per level, so a body of a few thousand brackets would end in
    RecursionError. The depth is counted on decoded text: on raw bytes a UTF-16 body could
    hide a quote inside a character and make the count run low.
    """
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if json_depth(text) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth}")
    return json.loads(text)
