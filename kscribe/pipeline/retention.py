"""Per-job retention and purges.

A job may ask to be kept ``retention_days`` (1 to ``KSCRIBE_MAX_RETENTION_DAYS``) from its
creation; then its outputs, the inputs kscribe wrote for it (an OpenAI-route upload), its
work objects and its record are purged by the reconciler. ``DELETE
/api/v1/transcriptions/{id}?purge=true`` purges at once. A purge is idempotent (a second one
finds nothing and does nothing) and writes one JSON log line with ``audit.action = "purge"``.
Bucket lifecycle rules stay the safety net for whatever a purge could not reach.

What to purge is kept apart from the job record (``keys.purge_plans``) for every job, for
``KSCRIBE_PURGE_INDEX_DAYS`` (longer than every bucket lifecycle): a job whose record expired
first (``KSCRIBE_RETENTION_SECONDS`` is a week; outputs stay a year) is still purged, outputs,
page upload and all. The plan names prefixes, not objects: a handful of short strings a job.
A page upload's job owns its upload (the object and its upload session): a purge removes
both, so polling the upload afterwards answers 404 and never makes the job again.
"""

from __future__ import annotations

import logging
from typing import Any

from kscribe.context import Context
from kscribe.pipeline.stages import layout
from kscribe.storage import is_within
from kscribe.tenancy.tenants import upload_prefix
from kscribe.values import Job

log = logging.getLogger(__name__)
DAY_S = 86400


def adopt(
    ctx: Context,
    job: Job,
    retention_days: int = 0,
    owned_input: str = "",
    callback_links: bool = False,
    upload_id: str = "",
) -> None:
    """Record a new job's retention and the input prefix kscribe wrote for it (an OpenAI
    upload's folder, a page upload's); remember what to purge of it; schedule its purge when
    it asked for a retention period."""
    changes: dict[str, Any] = {}
    if owned_input:
        changes["owned_input"] = owned_input
    if retention_days:
        changes["retention_days"] = retention_days
    if callback_links:
        changes["callback_links"] = 1
    if changes:
        ctx.jobs.update(job.id, **changes)
    plan = _plan_of(job, owned_input or job.owned_input)
    if upload_id:
        plan["upload_id"] = upload_id
    ctx.purges.keep(
        job.id,
        plan,
        kept_until=job.created_at + ctx.settings.purge_index_days * DAY_S,
        due_at=job.created_at + retention_days * DAY_S if retention_days else None,
    )


def _plan_of(job: Job, owned_input: str) -> dict[str, str]:
    return {
        "tenant": job.tenant,
        "output_uri": job.output_uri,
        "owned_input": owned_input,
        "dedupe_key": job.dedupe_key,
    }


def page_upload_folder(ctx: Context, job: Job, upload_id: str) -> str:
    """The folder of a page upload (``<tenant upload prefix>web/<upload id>/``) when ``job``'s
    source is that upload's object, else ""."""
    if not job.tenant or not upload_id.isalnum():
        return ""
    folder = f"{upload_prefix(ctx.settings, job.tenant)}web/{upload_id}/"
    return folder if job.source_uri.startswith(folder) else ""


def purge(ctx: Context, job_id: str, *, tenant: str | None = None, reason: str = "") -> bool:
    """Purge the job (``tenant``: only if it is that tenant's). True if anything of it was
    there to purge. Storage first, then Redis: a failed delete leaves the plan for a retry."""
    job = ctx.jobs.get(job_id)
    plan = ctx.purges.plan(job_id)
    if job is None and not plan:
        return False
    if job is not None:
        plan = {**plan, **{k: v for k, v in _plan_of(job, job.owned_input).items() if v}}
    owner = plan.get("tenant", "")
    if tenant is not None and owner != tenant:
        return False  # another tenant's job answers as a missing one
    if job is not None and not job.status.terminal:
        # Ended first: a stage still at work sees it cancelled and stores nothing more.
        ctx.jobs.cancel(job_id)
    settings = ctx.settings
    deleted: list[str] = []
    output_uri = plan.get("output_uri", "")
    # Only a location of the job's own under kscribe's output (never a CLI's --out directory).
    if output_uri and is_within(output_uri, settings.output_uri):
        ctx.blobs.delete_prefix(output_uri)
        deleted.append(output_uri)
    work = layout.job_prefix(settings.work_uri, job_id)
    ctx.blobs.delete_prefix(work)
    deleted.append(work)
    owned = plan.get("owned_input", "")
    if owned and owner and is_within(owned, upload_prefix(settings, owner)):
        ctx.blobs.delete_prefix(owned)
        deleted.append(owned)
    upload_id = plan.get("upload_id", "")
    if upload_id:
        # Its session goes with its object: a later poll finds nothing to hand ingest again.
        ctx.uploads.forget(upload_id)
    ctx.purges.forget_job(job_id, owner, plan.get("dedupe_key", ""))
    log.info(
        "purged job %s (%s)",
        job_id,
        reason or "requested",
        extra={
            "audit": {
                "action": "purge",
                "job_id": job_id,
                "tenant": owner,
                "reason": reason or "requested",
                "status": job.status.value if job is not None else "expired",
                "deleted": deleted,
            }
        },
    )
    return True


def due(ctx: Context, now: float, limit: int = 100) -> list[str]:
    """Jobs whose retention is over."""
    return ctx.purges.due(now, limit)


def forget_old_plans(ctx: Context, now: float, limit: int = 1000) -> int:
    """Drop the purge plans of jobs older than ``KSCRIBE_PURGE_INDEX_DAYS`` (nothing of them
    is left to purge): the index stays bounded."""
    return ctx.purges.forget_old(now, limit)


def purge_expired(ctx: Context, now: float) -> list[str]:
    """Purge every job whose retention is over (the reconciler, every minute)."""
    forget_old_plans(ctx, now)
    purged = []
    for job_id in due(ctx, now):
        try:
            if purge(ctx, job_id, reason="retention"):
                purged.append(job_id)
            else:
                ctx.purges.not_due(job_id)
        except Exception:
            log.exception("purge of job %s failed; retried on the next pass", job_id)
    return purged
