"""API keys: random bearer tokens, stored only as their SHA-256, each bound to a tenant."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from kscribe.state import keys
from kscribe.state.client import KeyValue
from kscribe.tenancy.tenants import Tenants

TOKEN_PREFIX = "ksk_"  # noqa: S105 - a public prefix that marks keys, not one


@dataclass(frozen=True)
class ApiKey:
    key_id: str  # the first 12 hex digits of the hash: safe to show and log
    tenant: str
    name: str
    created_at: float
    revoked: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(key_hash: str, raw: dict[str, str]) -> ApiKey:
    return ApiKey(
        key_hash[:12], raw["tenant"], raw.get("name", ""), float(raw["created_at"]), raw.get("revoked") == "1"
    )


class ApiKeys:
    def __init__(self, client: KeyValue):
        self.redis = client

    def create(self, tenant: str, name: str = "") -> tuple[str, ApiKey]:
        """A new key for ``tenant``. The token is returned once and never stored."""
        Tenants(self.redis).ensure(tenant)  # checks the name; a first key creates the tenant
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key_hash = _hash(token)
        record = {"tenant": tenant, "name": name, "created_at": str(time.time()), "revoked": "0"}
        pipe = self.redis.pipeline()
        pipe.hset(keys.api_key(key_hash), mapping=record)
        pipe.sadd(keys.api_keys(), key_hash)
        pipe.execute()
        return token, _key(key_hash, record)

    def authenticate(self, token: str) -> ApiKey | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        key_hash = _hash(token)
        raw = self.redis.hgetall(keys.api_key(key_hash))
        if not raw or raw.get("revoked") == "1":
            return None
        return _key(key_hash, raw)

    def list(self) -> list[ApiKey]:
        found = []
        for key_hash in sorted(self.redis.smembers(keys.api_keys())):
            raw = self.redis.hgetall(keys.api_key(key_hash))
            if raw:
                found.append(_key(key_hash, raw))
        return sorted(found, key=lambda k: k.created_at)

    def revoke(self, key_id: str) -> bool:
        """Revoke the key whose id is ``key_id``; False if there is none (or it is ambiguous)."""
        matches = [h for h in self.redis.smembers(keys.api_keys()) if h.startswith(key_id)] if len(key_id) >= 8 else []
        if len(matches) != 1:
            return False
        self.redis.hset(keys.api_key(matches[0]), "revoked", "1")
        return True
