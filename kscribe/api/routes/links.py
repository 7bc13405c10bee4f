"""``GET /api/v1/links/<token>``: a signed result link, served without an API key."""

from __future__ import annotations

import time

from kscribe.api.http import ApiRequest, ApiResponse, error_body
from kscribe.context import Context
from kscribe.delivery import links
from kscribe.observability import metrics
from kscribe.storage import is_within
from kscribe.transcript.formats import CONTENT_TYPES
from kscribe.values import JobStatus


def handles(path: str) -> bool:
    return path.startswith(links.PREFIX)


class LinkServer:
    """``GET /api/v1/links/<token>``: no API key; the token is the authority."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def handle(self, request: ApiRequest) -> ApiResponse:
        response = self._serve(request)
        if isinstance(response, tuple):
            status, code, message = response
            response = ApiResponse(status, error_body(code, message))
        metrics.API_REQUESTS.labels(metrics.method_label(request.method), "link", str(response.status)).inc()
        return response

    def _serve(self, request: ApiRequest) -> ApiResponse | tuple[int, str, str]:
        if request.method not in ("GET", "HEAD"):
            return 405, "method_not_allowed", "links answer GET only"
        now = time.time()
        checked = links.check_token(self.ctx, request.path[len(links.PREFIX) :], now)
        if isinstance(checked, tuple) and isinstance(checked[0], int):
            return checked
        job_id, fmt, expires = checked
        job = self.ctx.jobs.get(job_id)
        uri = job.outputs.get(fmt, "") if job is not None else ""
        if job is None or job.status is not JobStatus.SUCCEEDED or not is_within(uri, job.output_uri):
            return 404, "not_found", "the output is gone"
        headers = {"Cache-Control": "private, no-store"}
        if self.ctx.settings.links == "gcs" and uri.startswith("gs://"):
            life = min(expires - now, links.GCS_REDIRECT_S)
            url = self.ctx.blobs.signed_url(uri, life, self.ctx.settings.signing_service_account)
            return ApiResponse(302, b"", {**headers, "Location": url})
        name = f"{job.output_stem or 'transcript'}.{fmt}"
        return ApiResponse(
            200,
            self.ctx.blobs.read_bytes(uri),
            {**headers, "Content-Type": CONTENT_TYPES[fmt], "Content-Disposition": links.attachment(name)},
        )
