"""``POST /api/v1/transcriptions``: a job for an object the tenant may read."""

from __future__ import annotations

import hashlib
import json
import uuid

from kscribe import backlog, metrics, retention
from kscribe.api_body import CREATE_SCHEMA, choices, extras, parse_body
from kscribe.api_http import BASE, ApiError, ApiRequest, ApiResponse, field_error
from kscribe.api_views import check_audio_allowance, tenant_of
from kscribe.apikeys import ApiKey
from kscribe.context import Context
from kscribe.errors import IdempotencyKeyReused, QuotaExceeded
from kscribe.notices import META_UPLOAD, notice_of
from kscribe.stages import JobRequest, ingest
from kscribe.stages.announce import announce
from kscribe.tenants import Tenant, Tenants, source_allowed
from kscribe.values import ObjectNotice


class JobCreation:
    def __init__(self, ctx: Context, tenants: Tenants):
        self.ctx = ctx
        self.tenants = tenants

    def create(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        settings = self.ctx.settings
        body = parse_body(request, settings, CREATE_SCHEMA)
        job_choices = choices(body, settings)
        retention_days, callback_links = extras(body, settings)
        tenant = tenant_of(self.tenants, key)
        notice = self.source_notice(body["source"], tenant)
        idempotency = request.headers.get("idempotency-key", "")
        if len(idempotency) > 200:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is longer than 200 characters")
        check_audio_allowance(self.ctx, tenant)
        # With the header a retried POST finds the first job; without it every POST is new.
        job_request = JobRequest(
            key=f"api:{key.tenant}:{idempotency or uuid.uuid4().hex}",
            tenant=key.tenant,
            request_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            max_active=Tenants.max_active_jobs(settings, tenant),
        )
        try:
            result = ingest(notice, self.ctx, job_choices, job_request)
        except IdempotencyKeyReused as exc:
            raise ApiError(422, "idempotency_key_reused", str(exc)) from None
        except QuotaExceeded as exc:
            code, headers = backlog.refusal(self.ctx, exc)
            raise ApiError(429, code, str(exc), headers) from None
        job = result.job
        assert job is not None  # explicit requests are never skipped
        if result.created:
            metrics.TENANT_JOBS.labels(metrics.tenant_label(tenant.name, known=True)).inc()
            retention.adopt(self.ctx, job, retention_days, callback_links=callback_links)
        rollback = (lambda: self.ctx.jobs.discard(job.id, job_request.key)) if result.created else None
        return ApiResponse(
            202,
            {"id": job.id, "status": job.status.value, "status_url": f"{BASE}/{job.id}"},
            {"Location": f"{BASE}/{job.id}"},
            events=announce(job),
            rollback=rollback,
        )

    def source_notice(self, source: str, tenant: Tenant) -> ObjectNotice:
        if not source.startswith("gs://") and not (self.ctx.settings.api_local_sources and source.startswith("/")):
            raise field_error("source", "must be gs://bucket/object")
        # Whatever the tenant may not read answers exactly as a missing object does, so the
        # answer tells nothing about what exists outside its own prefixes.
        missing = ApiError(400, "source_not_found", f"source: {source} does not exist (or is not readable)")
        if not source_allowed(self.ctx.settings, tenant, source):
            raise missing
        info = self.ctx.blobs.stat(source)
        if info is None:
            raise missing
        if info.metadata.get(META_UPLOAD):
            # The web page's uploads get their one job from ingest; never a second.
            raise ApiError(409, "upload_has_job", f"source: {source} came through an upload session and has its job")
        return notice_of(info)
