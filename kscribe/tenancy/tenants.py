"""Tenants: who may read which sources, the secret their callbacks are signed with, and
their quotas. One Redis hash per tenant, created with its first API key.

A tenant's sources are prefixes it may name as job sources. Its own upload prefix of the
input location (``<input>/tenants/<name>/``) is always among them; an operator adds others
(``kscribe keys create --source``). kscribe's own work and output locations are never a
source, whatever a prefix says.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass

from kscribe.errors import ConfigError
from kscribe.settings import Settings
from kscribe.state import keys
from kscribe.state.client import KeyValue
from kscribe.storage import is_within, join, split_gs

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SECRET_PREFIX = "kcs_"  # noqa: S105 - a public prefix that marks secrets, not one


@dataclass(frozen=True)
class Tenant:
    name: str
    # Extra source prefixes, beyond the tenant's own upload prefix.
    sources: tuple[str, ...] = ()
    callback_secret: str = ""
    # 0: the settings' default.
    max_active_jobs: int = 0
    audio_hours_per_day: float = 0.0


def upload_prefix(settings: Settings, tenant: str) -> str:
    """Where a tenant's own uploads live: ``<input>/tenants/<tenant>/``."""
    return join(settings.input_uri, "tenants", tenant) + "/"


def tenant_of_upload(settings: Settings, uri: str) -> str:
    """The tenant whose upload prefix holds ``uri``, or "" (a bucket upload of nobody's)."""
    base = join(settings.input_uri, "tenants") + "/"
    if not uri.startswith(base):
        return ""
    name = uri[len(base) :].split("/", 1)[0]
    return name if NAME.fullmatch(name) and "/" in uri[len(base) :] else ""


def _unsafe(name: str) -> bool:
    """A path that means something else to a filesystem than to a bucket, or that hides
    characters (controls, bidi overrides and other format characters): refused everywhere
    a tenant names an object."""
    segments = name.split("/")
    return (
        not name
        or "\\" in name
        or any(unicodedata.category(c) in ("Cc", "Cf") for c in name)
        or any(s in ("", ".", "..") for s in segments)
    )


def unsafe_object_name(uri: str) -> bool:
    """True unless ``uri`` is ``gs://bucket/name`` (or an absolute local path) whose name has
    no empty, ``.`` or ``..`` segment, backslash or control character."""
    if uri.startswith("gs://"):
        try:
            _, name = split_gs(uri)
        except ValueError:
            return True  # gs:///name: no bucket
        return _unsafe(name)
    return not uri.startswith("/") or _unsafe(uri[1:])


def source_allowed(settings: Settings, tenant: Tenant, uri: str) -> bool:
    """May ``tenant`` make a job of ``uri``? Only under its own upload prefix or a prefix the
    operator gave it, never in kscribe's work or output locations."""
    if unsafe_object_name(uri):
        return False
    prefixes = [upload_prefix(settings, tenant.name), *tenant.sources]
    forbidden = [settings.work_uri, settings.output_uri]
    if not uri.startswith("gs://"):
        # A local path (local stacks only): judged by where it really is, links followed.
        uri = os.path.realpath(uri)
        prefixes = [os.path.realpath(p) for p in prefixes if p.startswith("/")]
        forbidden = [os.path.realpath(p) for p in forbidden if p.startswith("/")]
    if any(is_within(uri, p) or uri == p.rstrip("/") for p in forbidden):
        return False
    # Other tenants' uploads, whatever prefix the operator gave: only the tenant's own.
    others = join(settings.input_uri, "tenants") + "/"
    if not uri.startswith("gs://") and settings.input_uri.startswith("/"):
        others = os.path.realpath(others.rstrip("/")) + "/"
    if uri.startswith(others) and not is_within(uri, prefixes[0]):
        return False
    return any(is_within(uri, p) for p in prefixes)


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _decode(name: str, raw: dict[str, str]) -> Tenant:
    return Tenant(
        name=name,
        sources=tuple(json.loads(raw.get("sources") or "[]")),
        callback_secret=raw.get("callback_secret", ""),
        max_active_jobs=int(raw.get("max_active_jobs") or 0),
        audio_hours_per_day=float(raw.get("audio_hours_per_day") or 0),
    )


def _check_prefix(prefix: str) -> str:
    if not (prefix.startswith("gs://") and "/" in prefix.rstrip("/")[5:]) and not prefix.startswith("/"):
        raise ConfigError(f"a source prefix is gs://bucket/prefix/ (or an absolute directory), not {prefix!r}")
    if unsafe_object_name(prefix.rstrip("/")):
        raise ConfigError(f"source prefix {prefix!r} has empty, '.' or '..' segments or control characters")
    return prefix if prefix.endswith("/") else prefix + "/"


class Tenants:
    def __init__(self, client: KeyValue):
        self.redis = client

    def get(self, name: str) -> Tenant | None:
        raw = self.redis.hgetall(keys.tenant(name)) if name else {}
        return _decode(name, raw) if raw else None

    def ensure(self, name: str) -> tuple[Tenant, bool]:
        """The tenant, created (with a fresh callback secret) if new; and whether it was."""
        if not NAME.fullmatch(name):
            raise ConfigError(
                "tenant must be 1-63 lower-case letters, digits or dashes, starting with one of the first two"
            )
        # HSETNX: two first keys created at once still give the tenant one secret.
        created = bool(self.redis.hsetnx(keys.tenant(name), "callback_secret", _new_secret()))
        if created:
            self.redis.hset(keys.tenant(name), "created_at", str(time.time()))
            self.redis.sadd(keys.tenants(), name)
        tenant = self.get(name)
        assert tenant is not None
        return tenant, created

    def add_sources(self, name: str, prefixes: list[str]) -> Tenant:
        tenant, _ = self.ensure(name)
        sources = tuple(dict.fromkeys((*tenant.sources, *(_check_prefix(p) for p in prefixes))))
        self.redis.hset(keys.tenant(name), "sources", json.dumps(list(sources)))
        return self.get(name)  # type: ignore[return-value]

    def set_limits(
        self, name: str, max_active_jobs: int | None = None, audio_hours_per_day: float | None = None
    ) -> Tenant:
        """Set the tenant's own quotas (0: the installation's default)."""
        for label, value in (("max active jobs", max_active_jobs), ("audio hours per day", audio_hours_per_day)):
            if value is not None and not (0 <= value < float("inf")):
                raise ConfigError(f"{label} must be a number of at least 0, not {value!r}")
        self.ensure(name)
        changes = {
            k: str(v)
            for k, v in (("max_active_jobs", max_active_jobs), ("audio_hours_per_day", audio_hours_per_day))
            if v is not None
        }
        if changes:
            self.redis.hset(keys.tenant(name), mapping=changes)
        return self.get(name)  # type: ignore[return-value]

    def rotate_secret(self, name: str) -> str:
        """A new callback secret for an existing tenant; the old one stops signing at once."""
        if self.get(name) is None:
            raise ConfigError(f"no tenant {name!r}")
        secret = _new_secret()
        self.redis.hset(keys.tenant(name), "callback_secret", secret)
        return secret

    def names(self) -> list[str]:
        return sorted(self.redis.smembers(keys.tenants()))

    @staticmethod
    def max_active_jobs(settings: Settings, tenant: Tenant) -> int:
        return tenant.max_active_jobs or settings.tenant_max_active_jobs

    @staticmethod
    def audio_limit_s(settings: Settings, tenant: Tenant) -> float:
        return (tenant.audio_hours_per_day or settings.tenant_audio_hours_per_day) * 3600
