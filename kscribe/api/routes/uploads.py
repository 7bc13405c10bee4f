"""Upload sessions for the web page: one file into the tenant's upload prefix, whose job
ingest makes; its bytes go straight to the bucket or, on local stacks, through the api."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kscribe.api import web as webui
from kscribe.api.body import UPLOAD_SCHEMA, choices, parse_body
from kscribe.api.http import UPLOADS, ApiError, ApiRequest, ApiResponse
from kscribe.api.views import check_quota, job_view, tenant_of
from kscribe.choices import META_UPLOAD
from kscribe.context import Context
from kscribe.errors import InputError
from kscribe.media.containers import media_type_of_name
from kscribe.state.uploads import UPLOAD_SLOT_S, Upload
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenants, upload_prefix

# The fields of an upload session's body that describe the file rather than its job.
_FILE_FIELDS = ("filename", "size", "content_type")


class UploadRoutes:
    def __init__(self, ctx: Context, tenants: Tenants, notify_upload: Callable[[Any], None]):
        self.ctx = ctx
        self.tenants = tenants
        self.uploads = ctx.uploads
        # How an upload that came through the api reaches ingest (the bucket trigger's stand-in).
        self.notify_upload = notify_upload

    def create(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        """An upload session for one file in the tenant's own upload prefix; ingest makes its job."""
        settings = self.ctx.settings
        body = parse_body(request, settings, UPLOAD_SCHEMA)
        # Every field besides the file's own is a job choice (the schema lists which).
        job_choices = choices({k: v for k, v in body.items() if k not in _FILE_FIELDS}, settings)
        name, size = body["filename"], body["size"]
        # The type the object is stored (and a browser may be served it) with: from a fixed
        # list by the file's name, never the one the client declared.
        content_type = media_type_of_name(name)
        if size > settings.max_input_bytes:
            raise ApiError(413, "file_too_large", f"the file is over {settings.max_input_bytes} bytes")
        tenant = tenant_of(self.tenants, key)
        check_quota(self.ctx, tenant)
        upload = self.uploads.new(upload_prefix(settings, key.tenant), key.tenant, name, size, content_type)
        # The upload's job takes one of the tenant's unfinished-job slots from now on: held
        # here, checked in the same step as the count, and handed to the job by ingest.
        limit = Tenants.max_active_jobs(settings, tenant)
        if not self.ctx.jobs.reserve_upload_slot(key.tenant, upload.id, limit, UPLOAD_SLOT_S):
            self.uploads.forget(upload.id)
            raise ApiError(
                429,
                "quota_exceeded",
                f"tenant {tenant.name} already has {limit} unfinished jobs",
                {"Retry-After": "60"},
            )
        metadata = webui.upload_metadata(upload.id, job_choices.choices)
        self.uploads.set_metadata(upload.id, metadata)
        if settings.web_uploads == "direct":
            url = webui.resumable_session(self.ctx, upload, metadata, request.headers.get("origin"))
        else:
            url = f"{UPLOADS}/{upload.id}/content"
        return ApiResponse(
            201,
            {"id": upload.id, "mode": settings.web_uploads, "upload_url": url, "status_url": f"{UPLOADS}/{upload.id}"},
            {"Location": f"{UPLOADS}/{upload.id}"},
        )

    def _own_upload(self, key: ApiKey, upload_id: str) -> Upload:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.tenant != key.tenant:
            raise ApiError(404, "not_found", f"no upload {upload_id}")
        return upload

    def get(self, request: ApiRequest, key: ApiKey, upload_id: str) -> ApiResponse:
        """The upload and, once ingest made it, its one job (found by the object it stored)."""
        upload = self._own_upload(key, upload_id)
        info = self.ctx.blobs.stat(upload.uri)
        job = None
        if info is not None and info.metadata.get(META_UPLOAD) == upload.id:
            job_id = self.ctx.jobs.job_id_for(f"{info.uri}#{info.generation}")
            found = self.ctx.jobs.get(job_id) if job_id else None
            job = job_view(found) if found is not None and found.tenant == key.tenant else None
            if job_id is None and upload.state == "stored" and self.ctx.settings.web_uploads == "api":
                self.notify_upload(info)  # the first notification was lost; ingest dedupes
        state = "received" if info is not None else upload.state
        return ApiResponse(200, {"id": upload.id, "state": state, "size": upload.size, "job": job})

    def delete(self, request: ApiRequest, key: ApiKey, upload_id: str) -> ApiResponse:
        """Give up an upload whose bytes have not arrived (its transfer failed, or never
        began): the session goes, and the slot it held among the tenant's unfinished jobs comes
        back at once rather than after ``webui.UPLOAD_SLOT_S``."""
        upload = self._own_upload(key, upload_id)
        if upload.state != "pending" or self.ctx.blobs.stat(upload.uri) is not None:
            raise ApiError(409, "upload_stored", "this upload's bytes are stored or arriving: cancel its job instead")
        self.uploads.forget(upload.id)
        self.ctx.jobs.release_upload_slot(key.tenant, upload.id)
        return ApiResponse(204, b"")

    def content(self, request: ApiRequest, key: ApiKey, upload_id: str) -> ApiResponse:
        """The upload's bytes through the api (``KSCRIBE_WEB_UPLOADS=api``: local stacks), streamed."""
        if self.ctx.settings.web_uploads != "api":
            raise ApiError(404, "not_found", "uploads go straight to the bucket here")
        upload = self._own_upload(key, upload_id)
        if request.content_length != upload.size or request.body_stream is None:
            raise ApiError(400, "invalid_size", f"send exactly the {upload.size} bytes announced (Content-Length)")
        if not self.uploads.claim(upload.id):
            raise ApiError(409, "already_uploaded", "this upload's bytes are already stored or arriving")
        stored = False
        try:
            info = webui.store_stream(self.ctx, upload, request.body_stream, self.uploads.metadata(upload.id))
            stored = True
        except InputError as exc:
            raise ApiError(400, "upload_incomplete", str(exc)) from None
        finally:
            self.uploads.finish(upload.id, stored)
        self.notify_upload(info)
        return self.get(request, key, upload_id)
