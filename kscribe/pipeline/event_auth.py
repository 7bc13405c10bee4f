"""Who sent an event: the OIDC token Knative Eventing attaches to each delivery
(``Authorization: Bearer <JWT>``), checked against the issuer's published keys.

Without it anyone who can reach a function's address inside the cluster can make it act on a
made-up event. Nothing here touches the network before the first event arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
import requests

from kscribe.errors import TransientError
from kscribe.settings import Settings

# Asymmetric only: with "HS256" allowed, a public key could be used as an HMAC secret.
_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})


class Unauthenticated(Exception):
    """The request carries no token, or one that does not prove an allowed sender."""


class Jwks:
    """The issuer's signing keys, from a JWKS URL: fetched on first use and again for a key id
    not seen yet (keys rotate), but at most once per ``min_refresh_s``, so tokens with made-up
    key ids cannot turn into one fetch each."""

    def __init__(
        self, url: str, timeout_s: float = 5.0, min_refresh_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self.url, self.timeout_s, self.min_refresh_s, self.clock = url, timeout_s, min_refresh_s, clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            if kid not in self._keys and self.clock() - self._fetched_at >= self.min_refresh_s:
                self._keys = self._fetch()
                self._fetched_at = self.clock()
            if kid not in self._keys:
                raise Unauthenticated(f"no signing key {kid!r} at {self.url}")
            return self._keys[kid]

    def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        try:
            response = requests.get(self.url, timeout=self.timeout_s)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
            # The keys being out of reach says nothing about the sender: retry, do not refuse.
            raise TransientError(f"cannot read the event signing keys at {self.url}: {exc}") from exc
        by_kid: dict[str | None, jwt.PyJWK] = {k.key_id: k for k in keys if k.key_id}
        if len(keys) == 1:
            by_kid[None] = keys[0]  # a token without "kid" may name the only key
        return by_kid


@dataclass(frozen=True)
class EventAuth:
    jwks: Jwks
    issuer: str
    audience: str
    senders: frozenset[str]
    leeway_s: float = 30.0  # clock skew between the cluster's issuer and this pod

    def verify(self, authorization: str) -> str:
        """The sender (the token's ``sub``) of a request with this Authorization header, or
        Unauthenticated. TransientError when the keys cannot be fetched."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("no bearer token")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.jwks.key(kid if isinstance(kid, str) else None)
            if key.algorithm_name not in _ALGORITHMS:
                raise Unauthenticated(f"signing key {kid!r} is not an asymmetric key")
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        sender = str(claims["sub"])
        if sender not in self.senders:
            raise Unauthenticated(f"sender {sender!r} is not one of KSCRIBE_EVENT_SENDERS")
        return sender


def from_settings(settings: Settings) -> EventAuth | None:
    """The check ``settings`` ask for; None when events are not authenticated (the default)."""
    if settings.event_auth != "oidc":
        return None
    return EventAuth(
        Jwks(settings.event_jwks_url), settings.event_issuer, settings.event_audience, frozenset(settings.event_senders)
    )
