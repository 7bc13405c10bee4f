"""A tenant's jobs: read one, list them, download a transcript, read the text so far, cancel or
purge; its usage."""

from __future__ import annotations

import re
from typing import Any, Protocol

from kscribe.api.http import ApiError, ApiRequest, ApiResponse
from kscribe.api.routes.speakers import renamed_output
from kscribe.api.views import chunk_view, job_view, own_job, tenant_of
from kscribe.context import Context
from kscribe.delivery import links
from kscribe.observability import metrics
from kscribe.pipeline import backlog, batches, retention
from kscribe.pipeline.partial import finished_chunks
from kscribe.pipeline.stages import layout
from kscribe.storage import is_within
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenants
from kscribe.tenancy.usage import usage_view
from kscribe.transcript.formats import CONTENT_TYPES
from kscribe.values import FORMATS as ALL_FORMATS
from kscribe.values import JobStatus


class BatchListing(Protocol):
    """The batch routes' listing of a batch's jobs (``kscribe.api.routes.batches``)."""

    def list_jobs(self, key: ApiKey, batch_id: str, status: str, limit: int, cursor: int) -> dict[str, Any]: ...


# Redis takes list positions as 64-bit integers; no listing comes near this.
MAX_CURSOR = 2**53
# Chunks a text-so-far answer holds at most (each is a read of work storage), and by default.
MAX_CHUNKS_PER_PAGE = 100
CHUNKS_PER_PAGE = 20


class JobReads:
    def __init__(self, ctx: Context, tenants: Tenants):
        self.ctx = ctx
        self.tenants = tenants
        # ``?batch_id=`` lists a batch's jobs (set by the Api).
        self.batches: BatchListing | None = None

    def get(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        job = own_job(self.ctx, key, job_id)
        queue = backlog.queue_view(self.ctx, job)
        return ApiResponse(200, {**job_view(job, queue), "links": links.links_for(self.ctx, job)})

    def list(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        status = request.query.get("status")
        if status and status not in {s.value for s in JobStatus}:
            raise ApiError(400, "invalid_status", f"status must be one of {', '.join(s.value for s in JobStatus)}")
        try:
            limit = int(request.query.get("limit", "20"))
            cursor = int(request.query.get("cursor", "0"))
        except ValueError:
            raise ApiError(400, "invalid_query", "limit and cursor must be integers") from None
        if not 1 <= limit <= 100 or not 0 <= cursor < MAX_CURSOR:
            raise ApiError(400, "invalid_query", f"limit must be 1-100 and cursor 0-{MAX_CURSOR - 1}")
        if (batch_id := request.query.get("batch_id")) and self.batches is not None:
            return ApiResponse(200, self.batches.list_jobs(key, batch_id, status or "", limit, cursor))
        items: list[dict[str, Any]] = []
        position, next_cursor = cursor, None
        # Through the tenant's status index when filtering: a page costs what it shows, not
        # a walk over the tenant's whole history. Ids of expired jobs are skipped.
        while True:
            ids = self.ctx.jobs.tenant_job_ids(key.tenant, position, limit, status or "")
            for offset, job_id in enumerate(ids):
                job = self.ctx.jobs.get(job_id)
                if job is not None and (not status or job.status.value == status):
                    queue = backlog.queue_view(self.ctx, job)
                    items.append({**job_view(job, queue), "links": links.links_for(self.ctx, job)})
                if len(items) == limit:
                    next_cursor = position + offset + 1
                    break
            if next_cursor is not None or len(ids) < limit:
                break
            position += limit
        return ApiResponse(200, {"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None})

    def transcript(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        job = own_job(self.ctx, key, job_id)
        fmt = request.query.get("format", "json")
        if fmt not in ALL_FORMATS:
            raise ApiError(400, "invalid_format", f"format must be one of {', '.join(ALL_FORMATS)}")
        if job.status is not JobStatus.SUCCEEDED:
            raise ApiError(409, "not_ready", f"the transcription is {job.status.value}, not succeeded")
        uri = job.outputs.get(fmt, "")
        # Served only from the job's own location, whatever the record says.
        if not is_within(uri, job.output_uri):
            raise ApiError(404, "format_not_available", f"this job did not produce {fmt}")
        # Named speakers show under their names, unless the labels as heard are asked for.
        renamed = None if request.query.get("speaker_names") == "false" else renamed_output(self.ctx, job, fmt)
        return ApiResponse(
            200,
            renamed if renamed is not None else self.ctx.blobs.read_bytes(uri),
            {
                "Content-Type": CONTENT_TYPES[fmt],
                "Content-Disposition": links.attachment(f"{job.output_stem or 'transcript'}.{fmt}"),
            },
        )

    def chunks(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        """The text of the job's chunks transcribed so far, in order from ``?from=`` (0), up to
        the first not yet done; ``next`` is where to ask from next time."""
        job = own_job(self.ctx, key, job_id)
        start = _count(request.query.get("from", "0"), "from", MAX_CURSOR - 1)
        limit = _count(request.query.get("limit", str(CHUNKS_PER_PAGE)), "limit", MAX_CHUNKS_PER_PAGE, least=1)
        spellings = {**dict(self.ctx.settings.replacements), **job.replacements}
        found = finished_chunks(self.ctx, job.id, min(job.chunks_total, start + limit), start)
        items = [chunk_view(c, spellings) for c in found]
        return ApiResponse(200, {"chunks": items, "next": start + len(items), "total": job.chunks_total})

    def cancel(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        if request.query.get("purge", "").lower() in ("true", "1"):
            # Idempotent: 204 once nothing of the id is left for this tenant — purged now,
            # purged before, or never its own (which answers as a missing one does).
            job = self.ctx.jobs.get(job_id)
            purged = retention.purge(self.ctx, job_id, tenant=key.tenant, reason="api")
            # A purge ends an unfinished job: it may have been the last of its batch, which is
            # then owed its batch.completed now (the record is gone, so asked with the one read).
            owed = batches.owed_for(self.ctx, job) if purged else []
            return ApiResponse(204, b"", events=owed)
        job = own_job(self.ctx, key, job_id)
        if job.status.terminal:
            raise ApiError(409, "already_finished", f"the transcription already {job.status.value}")
        if self.ctx.jobs.cancel(job.id):
            metrics.JOBS.labels("cancelled", "").inc()
        # Nothing reads a cancelled job's intermediate objects again; an extraction still
        # running removes what it writes once it sees the job ended (stages/extract.py).
        self.ctx.blobs.delete_prefix(layout.job_prefix(self.ctx.settings.work_uri, job.id))
        cancelled = self.ctx.jobs.require(job.id)
        # The last job of a batch to end may be this one.
        return ApiResponse(200, job_view(cancelled), events=batches.owed_for(self.ctx, cancelled))

    def usage(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        return ApiResponse(200, usage_view(self.ctx.jobs, self.ctx.settings, tenant_of(self.tenants, key)))


def _count(raw: str, name: str, most: int, least: int = 0) -> int:
    """A query parameter that counts: plain digits only (not "+1", "1_0" or other scripts' digits)."""
    if not re.fullmatch(r"[0-9]{1,16}", raw) or not least <= int(raw) <= most:
        raise ApiError(400, "invalid_query", f"{name} must be an integer from {least} to {most}")
    return int(raw)
