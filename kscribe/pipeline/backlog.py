"""The pipeline's line of waiting jobs, as the API, `kscribe status` and the web page show it.

A job waits in line from its creation until its first chunk reaches a transcribe worker
(``JobStore.place_in_line``). How fast the line moves is measured, not configured: jobs that
ended per minute over the last five minutes (``JobStore.finished_per_minute``). A job's
estimated start is then its place divided by that rate — an estimate that improves as the
pipeline runs, and none at all while nothing has finished yet (a cold pipeline).

Above ``KSCRIBE_QUEUE_MAX_JOBS`` waiting jobs the API refuses new ones with 429 and a
``Retry-After`` of the time the line needs to shrink below it; a tenant at its own
``max_active_jobs`` gets the same. Uploads to the bucket are never refused: they queue.
"""

from __future__ import annotations

import math
from typing import Any

from kscribe.context import Context
from kscribe.errors import QueueFull
from kscribe.values import Job

# Retry-After bounds: soon enough to be useful, far enough not to hammer a full queue.
MIN_RETRY_S, MAX_RETRY_S, UNKNOWN_RETRY_S = 5, 600, 60


def estimated_wait_s(ctx: Context, place: int) -> float | None:
    """Seconds until the job ``place`` in line starts, at the measured drain rate (None
    while nothing has finished lately)."""
    per_minute = ctx.jobs.finished_per_minute()
    if per_minute <= 0:
        return None
    return place * 60.0 / per_minute


def retry_after_s(ctx: Context, excess: int = 1) -> int:
    """When a client refused for a full line should try again: when ``excess`` jobs will have
    left it at the measured rate, within [5 s, 10 min]."""
    wait = estimated_wait_s(ctx, max(1, excess))
    if wait is None:
        return UNKNOWN_RETRY_S
    return int(min(MAX_RETRY_S, max(MIN_RETRY_S, math.ceil(wait))))


def queue_view(ctx: Context, job: Job) -> dict[str, Any] | None:
    """``{"place", "ahead", "estimated_start", "estimated_wait_s"}`` for a job waiting in
    line; None for one that started or ended."""
    if job.status.terminal or job.transcription_started_at:
        return None
    place = ctx.jobs.place_in_line(job.id)
    if place is None:
        return None
    wait = estimated_wait_s(ctx, place)
    return {
        "place": place,
        "ahead": place - 1,
        "estimated_wait_s": None if wait is None else round(wait),
        "estimated_start": None if wait is None else round(ctx.jobs.clock() + wait),
    }


def describe(view: dict[str, Any] | None) -> str:
    """One line for people: "place 12 in line, starts in about 4 min"."""
    if not view:
        return ""
    wait = view["estimated_wait_s"]
    when = "start not yet estimated" if wait is None else f"starts in about {max(1, round(wait / 60))} min"
    return f"place {view['place']} in line ({view['ahead']} ahead), {when}"


def refusal(ctx: Context, exc: Exception) -> tuple[str, dict[str, str]]:
    """The API's 429 for a creation refused by the line (``QueueFull``) or by the tenant's
    quota: its error code and headers (``Retry-After`` from the measured drain rate)."""
    if not isinstance(exc, QueueFull):
        return "quota_exceeded", {"Retry-After": str(retry_after_s(ctx))}
    # Uploads always queue, so the line may stand far over its limit: a job is taken again
    # once enough have left for the line to be under it, not once one has.
    excess = ctx.jobs.in_line() - ctx.settings.queue_max_jobs + 1
    return "queue_full", {"Retry-After": str(retry_after_s(ctx, excess))}
