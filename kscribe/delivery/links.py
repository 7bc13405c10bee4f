"""Time-limited result links: one per output of a succeeded job, usable without an API key.

A link is ``<KSCRIBE_PUBLIC_URL>/api/v1/links/<job id>.<format>.<expires>.<signature>``: an
HMAC-SHA256 token bound to one job, one output and one expiry (unix seconds, at most 7 days
ahead), under ``KSCRIBE_LINK_SECRET`` (or, unset, a random secret made once in Redis and
shared by every function). The api answers it:

- ``KSCRIBE_LINKS=api`` (the local stack, whose GCS emulator cannot check signatures):
  with the output's bytes;
- ``KSCRIBE_LINKS=gcs`` (production): with a redirect to a GCS V4 signed URL for that one
  object, minted through the IAM signBlob API under the api's own Workload Identity (it holds
  ``roles/iam.serviceAccountTokenCreator`` on its own account only), valid for what is left
  of the link's life, at most 15 minutes.

So publish and notify, which put links into job.completed and callbacks, need no signing
permission; only the api does. Past its expiry, or with a signature that does not match, a
link answers 403; a job that is gone (purged, expired) answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import quote

from kscribe import events
from kscribe.choices import MAX_EXPIRY_S
from kscribe.context import Context
from kscribe.events import Event
from kscribe.values import Job, JobStatus

PREFIX = "/api/v1/links/"
GCS_REDIRECT_S = 15 * 60
# Expiry: unix seconds written the one way ``sign`` writes them (no leading zero, ten digits:
# until the year 2286), so a token has exactly one spelling.
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([a-z]{3,4})\.([1-9][0-9]{9})\.([0-9a-f]{64})$")
# A few seconds of clock skew between the pod that signed and the pod that serves.
_SKEW_S = 60


def _secret(ctx: Context) -> bytes:
    if ctx.settings.link_secret:
        return ctx.settings.link_secret.encode()
    return ctx.secrets.link().encode()


def _signature(secret: bytes, job_id: str, fmt: str, expires: int) -> str:
    return hmac.new(secret, f"link.v1.{job_id}.{fmt}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign(ctx: Context, job_id: str, fmt: str, expires: int) -> str:
    return f"{job_id}.{fmt}.{expires}.{_signature(_secret(ctx), job_id, fmt, expires)}"


def links_for(ctx: Context, job: Job, expiry_s: float | None = None, now: float | None = None) -> dict[str, Any]:
    """``{format: {"url", "expires_at"}}`` for a succeeded job's outputs; {} otherwise."""
    if job.status is not JobStatus.SUCCEEDED or not job.outputs:
        return {}
    life = min(expiry_s if expiry_s is not None else ctx.settings.link_expiry_s, MAX_EXPIRY_S)
    expires = int((time.time() if now is None else now) + life)
    base = ctx.settings.public_url.rstrip("/")
    return {
        fmt: {"url": f"{base}{PREFIX}{sign(ctx, job.id, fmt, expires)}", "expires_at": expires}
        for fmt in sorted(job.outputs)
    }


def job_completed(job: Job, ctx: Context) -> Event:
    """job.completed for ``job``, with links to its outputs."""
    event = events.job_completed_for(job)
    return Event(event.type, {**event.data, "links": links_for(ctx, job)}, event.id, event.source, event.subject)


def with_callback_links(payload: dict[str, Any], job: Job, ctx: Context) -> dict[str, Any]:
    """The callback payload, with links when the job asked for them (``links: true``)."""
    if job.callback_links and job.status is JobStatus.SUCCEEDED:
        return {**payload, "links": links_for(ctx, job)}
    return payload


def check_token(ctx: Context, token: str, now: float) -> tuple[str, str, int] | tuple[int, str, str]:
    """A link token's (job id, format, expiry) when kscribe signed it and it is live, else the
    refusal (status, code, message)."""
    m = _TOKEN.match(token)
    if not m:
        return 404, "not_found", "no such link"
    job_id, fmt, expires_text, signature = m.groups()
    expires = int(expires_text)
    expected = _signature(_secret(ctx), job_id, fmt, expires)
    if not hmac.compare_digest(expected, signature):
        return 403, "invalid_link", "the link's signature does not match"
    if now >= expires:
        return 403, "link_expired", "the link has expired; get a fresh one from the job"
    if expires > now + MAX_EXPIRY_S + _SKEW_S:
        # No link kscribe signs lives longer: one that does was made with a leaked secret.
        return 403, "invalid_link", "the link's expiry is beyond what kscribe signs"
    return job_id, fmt, expires


def attachment(name: str) -> str:
    """A ``Content-Disposition`` for downloading ``name`` (RFC 6266): an ASCII fallback name
    and the real one percent-encoded in UTF-8 (RFC 5987), so any name is a valid header."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%;' else "_" for c in name) or "transcript"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
