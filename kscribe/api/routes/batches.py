"""``/api/v1/batches``: many files in one request, one job each, and one answer at the end.

    POST   /api/v1/batches                 sources (gs:// URIs) or source_prefix, plus the job
                                           options of a single job, callback_url, job_callbacks
    GET    /api/v1/batches/{id}            counts per status, progress, done, totals
    DELETE /api/v1/batches/{id}            cancel its unfinished jobs (?purge=true: purge all)
    GET    /api/v1/transcriptions?batch_id=…   its jobs (``list_jobs``)

Sources are checked one by one exactly as a single job's ``source`` (refused ones answer as
missing ones). A prefix must lie inside one of the tenant's source prefixes (anything else
answers as an empty prefix), and only media files under it that the tenant may read become
jobs. More than ``KSCRIBE_MAX_BATCH_JOBS`` files is a 400 (a prefix is listed only that far).

Idempotency-Key: the key records the first request's batch id and body hash in one step, so
another body is a 422 even while the first runs; a twin sent meanwhile is a 409 (one request at
a time makes a key's batch, under a claim), and a retry once it is made returns it.

Quotas: a batch is made whole or not at all. It needs as many free job slots as it has files
(``max_active_jobs``), else 429 ``quota_exceeded`` saying how many are free; if another
request takes a slot while the batch is being made, the jobs made so far are discarded, never
announced, and the answer is the same 429 (a retry with the same Idempotency-Key is safe).
The daily audio allowance is checked at creation as for one job; audio is counted at
extraction, so jobs that would pass the day's allowance fail there and count as failed in
the batch, which still completes and calls back.

Callbacks: ``callback_url`` gets one ``batch.completed`` callback when every job ended; each
job also calls it back on its own (the single-job behaviour), unless ``job_callbacks`` is
false.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from kscribe.api.body import choices, extras, parse_body
from kscribe.api.http import ApiError, ApiRequest, ApiResponse, field_error
from kscribe.api.routes.create import JobCreation
from kscribe.api.views import callback_view, check_audio_allowance, job_view, tenant_of
from kscribe.choices import META_UPLOAD
from kscribe.context import Context
from kscribe.delivery import links
from kscribe.errors import IdempotencyKeyReused, QuotaExceeded, WorkClaimed
from kscribe.events import Event
from kscribe.observability import metrics
from kscribe.pipeline import backlog, batches, retention
from kscribe.pipeline.stages import layout
from kscribe.pipeline.stages.announce import announce
from kscribe.pipeline.stages.ingest import CheckedChoices, JobRequest, ingest
from kscribe.settings import MEDIA_EXTENSIONS
from kscribe.state.batches import Batch
from kscribe.storage import is_within
from kscribe.storage.notices import META_ROLE
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenant, Tenants, source_allowed, unsafe_object_name, upload_prefix
from kscribe.values import Job, JobStatus, ObjectNotice

BATCHES = "/api/v1/batches"
_BATCH_ID = re.compile(r"[0-9a-f]{32}")
_BATCH_PATH = re.compile(rf"^{BATCHES}/({_BATCH_ID.pattern})$")
# The body's schema in the OpenAPI document (a single job's options, and the files).
CREATE_SCHEMA = "CreateBatch"


@dataclass(frozen=True)
class _Asked:
    """A batch request, checked: what making its batch needs."""

    body: dict[str, Any]
    tenant: Tenant
    choices: CheckedChoices
    job_callbacks: bool
    retention_days: int
    callback_links: bool
    request_hash: str
    idempotency: str


def route(routes: BatchRoutes, method: str, path: str) -> tuple[str, Any, tuple[str, ...]] | None:
    """The batch route for ``method path``, or None if it is not one."""
    if path == BATCHES:
        if method == "POST":
            return "batch_create", routes.create, ()
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {BATCHES}")
    if m := _BATCH_PATH.match(path):
        if method == "GET":
            return "batch_get", routes.get, (m.group(1),)
        if method == "DELETE":
            return "batch_delete", routes.delete, (m.group(1),)
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on a batch")
    return None


class BatchRoutes:
    def __init__(self, ctx: Context, tenants: Tenants, creation: JobCreation):
        self.ctx = ctx
        self.tenants = tenants
        self.creation = creation  # a single job's source check, for each of the batch's
        self.store = ctx.batches

    # --- POST /api/v1/batches ---------------------------------------------------------
    def create(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        settings = self.ctx.settings
        body = parse_body(request, settings, CREATE_SCHEMA)
        retention_days, callback_links = extras(body, settings)
        idempotency = request.headers.get("idempotency-key", "")
        if len(idempotency) > 200:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is longer than 200 characters")
        request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        asked = _Asked(
            body=body,
            tenant=tenant_of(self.tenants, key),
            choices=choices(body, settings),
            job_callbacks=bool(body.get("job_callbacks", True)),
            retention_days=retention_days,
            callback_links=callback_links,
            request_hash=request_hash,
            idempotency=idempotency,
        )
        if not idempotency:
            return self._make(asked, uuid.uuid4().hex)
        # The key records the first request's hash with its batch id, in the same step that
        # claims it: another body is refused even while the first request is still running.
        batch_id, first_hash = self.store.claim_request(key.tenant, idempotency, uuid.uuid4().hex, request_hash)
        if first_hash != request_hash:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"the key {idempotency!r} was used for batch {batch_id} with another request",
            )
        if (existing := self.store.get(batch_id)) is not None and existing.total:
            return self._accepted(existing, self._announcements(existing))
        # One request at a time makes the key's batch: a twin sent while the first is making
        # its jobs would announce them a second time, and be left answering for a batch the
        # first undoes (quota). A crashed maker's claim lapses within its lease.
        try:
            making = self.ctx.claims.claim(f"batch-request/{key.tenant}/{idempotency}", settings.claim_lease_s, "api")
        except WorkClaimed:
            raise ApiError(
                409,
                "request_in_progress",
                f"a request with the key {idempotency!r} is still making batch {batch_id}; retry shortly",
                {"Retry-After": "1"},
            ) from None
        with making:
            if (existing := self.store.get(batch_id)) is not None and existing.total:
                return self._accepted(existing, self._announcements(existing))  # made meanwhile
            return self._make(asked, batch_id)

    def _make(self, asked: _Asked, batch_id: str) -> ApiResponse:
        settings, tenant, job_choices, job_callbacks = (
            self.ctx.settings,
            asked.tenant,
            asked.choices,
            asked.job_callbacks,
        )
        notices = self._notices(asked.body, tenant)
        self._check_quota(tenant, len(notices))
        fresh = self.store.open(
            Batch(
                id=batch_id,
                tenant=tenant.name,
                callback_url=job_choices.choices.callback_url or "",
                job_callbacks=job_callbacks,
                request_hash=asked.request_hash,
                source_prefix=str(asked.body.get("source_prefix") or ""),
            )
        )
        if not job_callbacks:
            # Dropping the callback leaves the checked choices checked.
            job_choices = dataclasses.replace(
                job_choices, choices=dataclasses.replace(job_choices.choices, callback_url=None)
            )
        jobs: list[Job] = []
        made: list[tuple[str, str]] = []  # (job id, its request key): undone if the batch is

        def undo() -> None:
            for job_id, request_key in made:
                self.ctx.jobs.discard(job_id, request_key)
            if fresh:
                self.store.discard(batch_id, tenant.name, asked.idempotency)

        for notice in notices:
            job_request = JobRequest(
                # One key per file of the batch: a retried request finds each job it made.
                key=f"api:{tenant.name}:batch:{batch_id}:{hashlib.sha256(notice.uri.encode()).hexdigest()[:32]}",
                tenant=tenant.name,
                request_hash=asked.request_hash,
                max_active=Tenants.max_active_jobs(settings, tenant),
                batch_id=batch_id,
                origin="batch",
            )
            try:
                result = ingest(notice, self.ctx, job_choices, job_request)
            except QuotaExceeded as exc:
                undo()
                code, headers = backlog.refusal(self.ctx, exc)
                raise ApiError(429, code, f"{exc}; the batch was not made", headers) from None
            except IdempotencyKeyReused as exc:  # pragma: no cover - keys carry the batch id
                undo()
                raise ApiError(422, "idempotency_key_reused", str(exc)) from None
            job = result.job
            assert job is not None  # explicit requests are never skipped
            if result.created:
                made.append((job.id, job_request.key))
                metrics.TENANT_JOBS.labels(metrics.tenant_label(tenant.name, known=True)).inc()
                retention.adopt(self.ctx, job, asked.retention_days, callback_links=asked.callback_links)
            jobs.append(job)
        finished_now = self.store.seal(batch_id, [j.id for j in jobs])
        batch = self.store.get(batch_id)
        assert batch is not None
        produced = [e for job in jobs for e in announce(job)]
        if finished_now:  # every file failed at ingest: nothing else will say so
            produced.append(batches.completed_event(self.ctx, batch))
        response = self._accepted(batch, produced)
        response.rollback = undo if made else None
        return response

    def _accepted(self, batch: Batch, produced: list[Event]) -> ApiResponse:
        return ApiResponse(
            202,
            {
                "id": batch.id,
                "total": batch.total,
                "status_url": f"{BATCHES}/{batch.id}",
                "jobs_url": _jobs_url(batch.id),
            },
            {"Location": f"{BATCHES}/{batch.id}"},
            events=produced,
        )

    def _announcements(self, batch: Batch) -> list[Event]:
        """What a retried request re-announces: whatever of the first did not go out."""
        found = self.ctx.jobs.get_many(self.store.job_ids(batch.id))
        produced = [e for job in found if job is not None for e in announce(job)]
        if batch.done and not batch.announced_at and not batch.last_job:
            produced.append(batches.completed_event(self.ctx, batch))
        return produced

    def _notices(self, body: dict[str, Any], tenant: Tenant) -> list[ObjectNotice]:
        sources, prefix = body.get("sources"), body.get("source_prefix")
        if (sources is None) == (prefix is None):
            raise field_error("sources", "give either sources (a list) or source_prefix")
        cap = self.ctx.settings.max_batch_jobs
        if prefix is not None:
            return self._prefix_notices(prefix, tenant, cap)
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
            raise field_error("sources", "a non-empty list of gs://bucket/object URIs")
        if len(sources) > cap:
            raise ApiError(400, "too_many_sources", f"sources: {len(sources)} files is over the {cap} a batch may have")
        if len(set(sources)) != len(sources):
            raise field_error("sources", "a file is listed twice")
        notices = []
        for index, source in enumerate(sources):
            try:
                notices.append(self.creation.source_notice(source, tenant))
            except ApiError as exc:
                # The same answer as one job's source (refused answers as missing), naming which.
                raise ApiError(exc.status, exc.code, f"sources[{index}]: {exc.message}", exc.headers) from None
        return notices

    def _prefix_notices(self, prefix: object, tenant: Tenant, cap: int) -> list[ObjectNotice]:
        settings = self.ctx.settings
        local = settings.api_local_sources and isinstance(prefix, str) and prefix.startswith("/")
        if not isinstance(prefix, str) or not (prefix.startswith("gs://") or local):
            raise field_error("source_prefix", "must be gs://bucket/prefix/")
        prefix = prefix.rstrip("/") + "/"
        # Outside the tenant's own prefixes answers exactly as an empty prefix does.
        empty = ApiError(
            400, "source_not_found", f"source_prefix: no media files under {prefix} (or it is not readable)"
        )
        mine = [upload_prefix(settings, tenant.name), *tenant.sources]
        if unsafe_object_name(prefix.rstrip("/")) or not any(
            is_within(prefix, p) or prefix == p.rstrip("/") + "/" for p in mine
        ):
            raise empty
        # Listed lazily and only up to one past the cap: a prefix of millions of objects costs
        # what cap + 1 of them do, in memory and in listing pages.
        matching = (
            uri
            for uri in self.ctx.blobs.iterate(prefix)
            if uri.rsplit(".", 1)[-1].lower() in MEDIA_EXTENSIONS and source_allowed(settings, tenant, uri)
        )
        uris = list(itertools.islice(matching, cap + 1))
        if len(uris) > cap:
            raise ApiError(
                400,
                "too_many_sources",
                f"source_prefix: more than {cap} media files, over the {cap} a batch may have",
            )
        notices = []
        for uri in uris:
            info = self.ctx.blobs.stat(uri)
            # Gone since listed; kscribe's own objects; the page's uploads, which have their job.
            if info is None or info.metadata.get(META_ROLE) or info.metadata.get(META_UPLOAD):
                continue
            notices.append(ObjectNotice(info.uri, info.generation, info.size, info.content_type, info.metadata))
        if not notices:
            raise empty
        return notices

    def _check_quota(self, tenant: Tenant, count: int) -> None:
        check_audio_allowance(self.ctx, tenant)
        limit = Tenants.max_active_jobs(self.ctx.settings, tenant)
        if limit > 0 and (active := self.ctx.jobs.tenant_active_count(tenant.name)) + count > limit:
            raise ApiError(
                429,
                "quota_exceeded",
                f"a batch of {count} needs {count} free job slots; tenant {tenant.name} has "
                f"{max(0, limit - active)} of {limit} (a batch is made whole or not at all)",
                {"Retry-After": "60"},
            )

    # --- reads --------------------------------------------------------------------------
    def _own(self, key: ApiKey, batch_id: str) -> Batch:
        # Only a batch id names a batch record: ``?batch_id=<id>:jobs`` would read the batch's
        # job list as its record (a Redis type error that says the batch exists).
        batch = self.store.get(batch_id) if _BATCH_ID.fullmatch(batch_id) else None
        # Another tenant's batch answers exactly as a missing one, as jobs do.
        if batch is None or batch.tenant != key.tenant:
            raise ApiError(404, "not_found", f"no batch {batch_id}")
        return batch

    def get(self, request: ApiRequest, key: ApiKey, batch_id: str) -> ApiResponse:
        return ApiResponse(200, self._view(self._own(key, batch_id)))

    def _view(self, batch: Batch) -> dict[str, Any]:
        summary = batches.summarize(self.ctx, batch.id)
        return {
            "id": batch.id,
            "status": "completed" if batch.done else ("creating" if not batch.total else "running"),
            "done": batch.done,
            "total": summary.total,
            "counts": summary.counts,
            "succeeded": summary.count(JobStatus.SUCCEEDED),
            "failed": summary.count(JobStatus.FAILED),
            "cancelled": summary.count(JobStatus.CANCELLED),
            "progress": 100.0 if batch.done else summary.progress,
            "created_at": batch.created_at,
            "finished_at": batch.finished_at or None,
            "source_prefix": batch.source_prefix or None,
            "job_callbacks": batch.job_callbacks,
            "callback": callback_view(
                batch.callback_url, batch.callback_status, batch.callback_attempts, batch.callback_error
            ),
            "status_url": f"{BATCHES}/{batch.id}",
            "jobs_url": _jobs_url(batch.id),
        }

    def list_jobs(self, key: ApiKey, batch_id: str, status: str, limit: int, cursor: int) -> dict[str, Any]:
        """A page of the batch's jobs (in the order they were given), as the job list shows them."""
        batch = self._own(key, batch_id)
        ids = self.store.job_ids(batch.id)
        items: list[dict[str, Any]] = []
        next_cursor = None
        for position in range(cursor, len(ids), limit):
            page = ids[position : position + limit]
            for offset, job in enumerate(self.ctx.jobs.get_many(page)):
                if job is not None and (not status or job.status.value == status):
                    items.append({**job_view(job), "links": links.links_for(self.ctx, job)})
                if len(items) == limit:
                    next_cursor = position + offset + 1
                    break
            if next_cursor is not None:
                break
        if next_cursor is not None and next_cursor >= len(ids):
            next_cursor = None
        return {"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None}

    # --- DELETE /api/v1/batches/{id} ------------------------------------------------------
    def delete(self, request: ApiRequest, key: ApiKey, batch_id: str) -> ApiResponse:
        """Cancel the batch's unfinished jobs; with ``purge=true``, purge every job of it
        (``kscribe.pipeline.retention.purge``) and the batch itself."""
        if request.query.get("purge", "").lower() in ("true", "1"):
            batch = self.store.get(batch_id)
            if batch is not None and batch.tenant == key.tenant:
                for job_id in self.store.job_ids(batch.id):
                    retention.purge(self.ctx, job_id, tenant=key.tenant, reason="api")
                self.store.discard(batch.id, key.tenant)
            # Idempotent, as a job's purge: 204 once nothing of it is left for this tenant.
            return ApiResponse(204, b"")
        batch = self._own(key, batch_id)
        produced: list[Event] = []
        for job_id in self.store.job_ids(batch.id):
            if self.ctx.jobs.cancel(job_id):
                metrics.JOBS.labels("cancelled", "").inc()
                self.ctx.blobs.delete_prefix(layout.job_prefix(self.ctx.settings.work_uri, job_id))
                produced += batches.owed_for(self.ctx, self.ctx.jobs.get(job_id))
        return ApiResponse(200, self._view(self.store.get(batch.id) or batch), events=produced)


def _jobs_url(batch_id: str) -> str:
    return f"/api/v1/transcriptions?batch_id={batch_id}"
