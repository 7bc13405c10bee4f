"""Notify: a finished job's signed callback, sent once it has delivered."""

from __future__ import annotations

import logging
from typing import Any

from kscribe import callbacks, claims, events, links
from kscribe.callback_lanes import CallbackLanes
from kscribe.context import Context
from kscribe.errors import EventRejected
from kscribe.settings import Settings
from kscribe.tenants import Tenants
from kscribe.values import Job, JobStatus

log = logging.getLogger(__name__)

FINISHED_STATUS = {events.JOB_COMPLETED: JobStatus.SUCCEEDED, events.JOB_FAILED: JobStatus.FAILED}


def callback_payload(event_type: str, job: Job) -> dict[str, Any]:
    """What a callback receiver gets: enough to act without calling back."""
    return {
        "type": event_type,
        "job_id": job.id,
        "status": job.status.value,
        "source": job.source_uri,
        "outputs": job.outputs,
        "duration_s": job.duration_s,
        "language": job.detected_language,
        "model": job.model,
        "error": job.error,
        "failed_stage": job.failed_stage,
        "metadata": job.metadata,
    }


def _callback_secret(job: Job, ctx: Context) -> str:
    """A tenant's jobs are signed with the tenant's own secret, so no tenant can sign what
    another's webhook accepts; bucket uploads of nobody's with the installation's."""
    if not job.tenant:
        return ctx.settings.callback_secret
    tenant = Tenants(ctx.kv).get(job.tenant)
    return tenant.callback_secret if tenant else ""


def notify(event_type: str, job_id: str, ctx: Context) -> None:
    """Send the job's signed callback for ``event_type`` (job.completed or job.failed) unless
    it was delivered; record the outcome on the job. ``EventRejected`` if the job is unknown
    or did not finish as the event says."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"no job {job_id}")
    if not job.callback_url or job.callback_status == "delivered":
        return
    if job.status is not FINISHED_STATUS.get(event_type):
        raise EventRejected("mismatch", f"job {job.id} is {job.status.value}, not as {event_type} says")
    settings = ctx.settings
    # One send per terminal state: a duplicate delivery of the event (a re-drive, a broker
    # retry) finds the claim and is retried later, when it finds the callback delivered. A
    # send is made again only when one really failed (the reconciler re-sends when due).
    with claims.claim(ctx.kv, claims.callback_work(job.id), settings.claim_lease_s, "notify"):
        job = ctx.jobs.require(job.id)
        if job.callback_status == "delivered":
            return
        _send(event_type, job, ctx)


def _send(event_type: str, job: Job, ctx: Context) -> None:
    """One delivery of the job's callback, in one of its tenant's lanes; its outcome recorded."""
    settings = ctx.settings
    secret = _callback_secret(job, ctx)
    if not secret:
        outcome = callbacks.CallbackOutcome(False, 0, 0, "no callback secret configured for this job's tenant")
    else:
        # One of the tenant's lanes, or none now: its other deliveries are under way (perhaps
        # to receivers that never answer), and this thread is for other tenants meanwhile.
        lanes = CallbackLanes(ctx.kv, settings.callback_lanes, hold_s=callbacks.SEND_DEADLINE_S + 30)
        if lanes.receiver_held(job.tenant, job.callback_url) or not lanes.take(job.tenant, job.id):
            ctx.jobs.callback_due_at(job.id, ctx.jobs.clock())
            log.info(
                "job %s: tenant %s's callback lanes are busy or its receiver on hold; re-sent later", job.id, job.tenant
            )
            return
        try:
            outcome = callbacks.send(
                job.callback_url,
                links.with_callback_links(callback_payload(event_type, job), job, ctx),
                secret,
                event_type,
                allow=settings.callback_allow,
                attempts=settings.callback_attempts,
                backoff_s=settings.callback_backoff_s,
            )
        finally:
            lanes.give_back(job.tenant, job.id)
        if not outcome.delivered and not outcome.final and outcome.status_code == 0:
            # No answer at all (a timeout, a refused connection): not again for a while.
            lanes.hold_receiver(job.tenant, job.callback_url, settings.callback_hold_s)
    ctx.jobs.update(
        job.id,
        callback_status="delivered" if outcome.delivered else "failed",
        callback_attempts=job.callback_attempts + outcome.attempts,
        callback_error=outcome.error,
    )
    if outcome.delivered or outcome.final:
        ctx.jobs.callback_due_at(job.id, None)
    else:
        # The receiver is down or failing: the reconciler sends again later.
        ctx.jobs.callback_due_at(job.id, ctx.jobs.clock() + callback_resend_delay(settings, job.callback_attempts))
        log.warning("job %s: callback to %s failed: %s", job.id, job.callback_url, outcome.error)


def callback_resend_delay(settings: Settings, attempts_so_far: int) -> float:
    """When to try an undelivered callback again: doubling from the base lease, at most an
    hour apart, for as long as the re-send window lasts."""
    return min(
        3600.0, float(settings.redrive_after_s) * 2.0 ** min(attempts_so_far // max(1, settings.callback_attempts), 6)
    )
