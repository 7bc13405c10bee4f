"""The web page's own routes: its files, the options it offers, and a job's source for its
``<video>`` through short-lived tokens (no bearer key: a media element cannot send one)."""

from __future__ import annotations

from collections.abc import Callable

from kscribe.api import web as webui
from kscribe.api.http import ApiError, ApiRequest, ApiResponse
from kscribe.api.views import own_job
from kscribe.asr.models import available_models
from kscribe.context import Context
from kscribe.media import containers
from kscribe.settings import MEDIA_EXTENSIONS
from kscribe.state.uploads import MEDIA_TOKEN_TTL_S
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenants, source_allowed
from kscribe.transcript.speakers import MAX_SPEAKERS, MIN_SPEAKERS
from kscribe.values import CHANNEL_MODES, TASKS
from kscribe.values import FORMATS as ALL_FORMATS

# On every media answer, whatever its bytes: no type sniffing, and, should a browser ever open
# it as a document, a sandbox with no script, no same-origin access (so no sessionStorage) and
# nothing loaded from anywhere.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class PageRoutes:
    def __init__(self, ctx: Context, tenants: Tenants, refuse_guess: Callable[[str], None]):
        self.ctx = ctx
        self.tenants = tenants
        self.media_tokens = ctx.media_tokens
        # Counts a bad media token as a failed authentication of the client (raises once over).
        self.refuse_guess = refuse_guess

    def static(self, request: ApiRequest, name: str) -> ApiResponse:
        found = webui.static_file(name)
        if found is None:
            raise ApiError(404, "not_found", f"no route for {request.method} {request.path}")
        data, content_type = found
        return ApiResponse(200, data, {"Content-Type": content_type, "Cache-Control": "no-cache"})

    def docs(self, request: ApiRequest, name: str) -> ApiResponse:
        """/docs (the page) and /docs/<file> (Swagger UI's files, from its package)."""
        found = webui.static_file("docs.html") if name == "" else webui.docs_file(name)
        if found is None:
            if name in webui.DOCS_FILES:
                raise ApiError(404, "docs_not_installed", "the API docs need the flask-swagger-ui package")
            raise ApiError(404, "not_found", f"no route for {request.method} {request.path}")
        data, content_type = found
        return ApiResponse(200, data, {"Content-Type": content_type, "Cache-Control": "no-cache"})

    def options(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        settings = self.ctx.settings
        return ApiResponse(
            200,
            {
                "tenant": key.tenant,
                "models": available_models(),
                "default_model": settings.model,
                "tasks": list(TASKS),
                "formats": list(ALL_FORMATS),
                "default_formats": list(settings.formats),
                "channels": list(CHANNEL_MODES),
                "default_channels": settings.channels,
                "default_audio_track": settings.audio_track,
                "default_multilingual": settings.multilingual,
                # Speaker labels by voice are offered only where the operator runs diarization.
                "speakers": {"enabled": settings.diarize, "min": MIN_SPEAKERS, "max": MAX_SPEAKERS},
                "upload": {
                    "mode": settings.web_uploads,
                    "max_bytes": settings.max_input_bytes,
                    "chunk_bytes": webui.UPLOAD_CHUNK_BYTES,
                    "extensions": sorted(MEDIA_EXTENSIONS),
                },
            },
        )

    def media_token(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        """A short-lived URL of the job's source for the page's <video>, bound to this job."""
        job = own_job(self.ctx, key, job_id)
        token = self.media_tokens.issue(job.id, key.tenant)
        return ApiResponse(
            201, {"url": f"/media/{token}", "expires_in": MEDIA_TOKEN_TTL_S}, {"Cache-Control": "no-store"}
        )

    def media(self, request: ApiRequest, token: str) -> ApiResponse:
        found = self.media_tokens.resolve(token)
        job = self.ctx.jobs.get(found[0]) if found else None
        tenant = self.tenants.get(found[1]) if found else None
        if (
            found is None
            or job is None
            or tenant is None
            or job.tenant != tenant.name
            or not source_allowed(self.ctx.settings, tenant, job.source_uri)
        ):
            self.refuse_guess(request.client)
            raise ApiError(404, "not_found", "no such media (the link expired: open the transcript again)")
        info = self.ctx.blobs.stat(job.source_uri)
        if info is None or info.generation != job.source_generation:
            raise ApiError(404, "not_found", "the source is no longer in the bucket")
        headers = {
            # Never the type the uploader declared (a list such as "audio/mpeg, text/html" is
            # HTML to a browser): the probed container's, from a fixed list of media types.
            "Content-Type": job.source_media_type or containers.media_type_of_name(job.source_uri),
            "Accept-Ranges": "bytes",
            "Cache-Control": "private, no-store",
            **MEDIA_HEADERS,
        }
        asked = request.headers.get("range", "")
        span = webui.parse_range(asked, info.size) if asked else (0, info.size - 1)
        if span is None or info.size == 0:
            raise ApiError(416, "range_not_satisfiable", "no such range", {"Content-Range": f"bytes */{info.size}"})
        start, end = span
        headers["Content-Length"] = str(end - start + 1)
        status = 200
        if asked:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        stream = (
            None if request.method == "HEAD" else self.ctx.blobs.read_range(job.source_uri, info.generation, start, end)
        )
        return ApiResponse(status, b"", headers, stream=stream)
