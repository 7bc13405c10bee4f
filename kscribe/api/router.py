"""The HTTP job API, without a web framework: ``Api.handle(ApiRequest) -> ApiResponse``.

This module routes a request and checks its key; the routes live beside it, one module per
concern: ``api_create`` (new jobs), ``api_jobs`` (reads, listing, the text so far, cancel), ``batch_api`` (batches),
``speakers`` (names for a transcript's speakers), ``api_uploads`` (the page's upload sessions), ``api_media`` (the page's files and media), with the values in
``api_http``, body checks in ``api_body`` and what a job shows in ``api_views``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from kscribe.api import web as webui
from kscribe.api.http import BASE, OPTIONS, UPLOADS, USAGE, ApiError, ApiRequest, ApiResponse, error_body
from kscribe.api.openapi import OPENAPI
from kscribe.api.routes import batches as batch_api
from kscribe.api.routes.create import JobCreation
from kscribe.api.routes.jobs import MAX_CURSOR, JobReads
from kscribe.api.routes.page import PageRoutes
from kscribe.api.routes.speakers import SpeakerNames
from kscribe.api.routes.uploads import UploadRoutes
from kscribe.api.views import job_view
from kscribe.context import Context
from kscribe.observability import metrics
from kscribe.tenancy.apikeys import ApiKey

__all__ = [
    "BASE",
    "MAX_CURSOR",
    "OPTIONS",
    "UPLOADS",
    "USAGE",
    "Api",
    "ApiError",
    "ApiRequest",
    "ApiResponse",
    "error_body",
    "job_view",
]

log = logging.getLogger(__name__)

_JOB_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})$")
_TRANSCRIPT_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/transcript$")
_UPLOAD_PATH = re.compile(rf"^{UPLOADS}/([0-9a-f]{{32}})$")
_UPLOAD_CONTENT_PATH = re.compile(rf"^{UPLOADS}/([0-9a-f]{{32}})/content$")
_CHUNKS_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/chunks$")
_SPEAKERS_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/speakers$")
_MEDIA_TOKEN_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/media$")
_MEDIA_PATH = re.compile(r"^/media/([A-Za-z0-9_-]{1,64})$")
_STATIC_PATH = re.compile(r"^/web/([a-z0-9-]+\.[a-z]+)$")
# The API's interactive documentation and Swagger UI's files.
DOCS = "/docs"
_DOCS_PATH = re.compile(r"^/docs/([a-z0-9-]+\.[a-z0-9]+)$")
# The page's files and media tokens: no bearer key.
_PUBLIC = {"page", "media"}


class Api:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.keys = ctx.api_keys
        self.tenants = ctx.tenants
        self.limiter = ctx.request_limits
        self.auth_failures = ctx.auth_failure_limits
        # How an upload that came through the api reaches ingest (the bucket trigger's stand-in).
        self.notify_upload: Callable[[Any], None] = lambda info: webui.notify_ingest(ctx.settings, info)
        self.creation = JobCreation(ctx, self.tenants)
        self.jobs = JobReads(ctx, self.tenants)
        self.speaker_names = SpeakerNames(ctx)
        self.upload_routes = UploadRoutes(ctx, self.tenants, lambda info: self.notify_upload(info))
        self.page = PageRoutes(ctx, self.tenants, self._count_auth_failure)
        self.uploads = self.upload_routes.uploads
        self.media_tokens = self.page.media_tokens
        self.batches = batch_api.BatchRoutes(ctx, self.tenants, self.creation)
        self.jobs.batches = self.batches

    def handle(self, request: ApiRequest) -> ApiResponse:
        route = "unknown"
        try:
            route, handler, args = self._route(request)
            if handler is None:  # the OpenAPI document: public, no key
                response = ApiResponse(200, OPENAPI)
            elif route in _PUBLIC:
                response = handler(request, *args)
            else:
                key = self._authenticate(request)
                response = handler(request, key, *args)
        except ApiError as exc:
            response = ApiResponse(exc.status, error_body(exc.code, exc.message), exc.headers)
        metrics.API_REQUESTS.labels(metrics.method_label(request.method), route, str(response.status)).inc()
        return response

    def _route(self, request: ApiRequest) -> tuple[str, Callable[..., Any] | None, tuple[str, ...]]:
        method, path = request.method, request.path.rstrip("/") or "/"
        if path == "/openapi.json" and method == "GET":
            return "openapi", None, ()
        if path.startswith(batch_api.BATCHES) and (found := batch_api.route(self.batches, method, path)):
            return found
        if path == BASE:
            if method == "POST":
                return "create", self.creation.create, ()
            if method == "GET":
                return "list", self.jobs.list, ()
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {BASE}")
        if m := _JOB_PATH.match(path):
            if method == "GET":
                return "get", self.jobs.get, (m.group(1),)
            if method == "DELETE":
                return "cancel", self.jobs.cancel, (m.group(1),)
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on a transcription")
        if (m := _TRANSCRIPT_PATH.match(path)) and method == "GET":
            return "transcript", self.jobs.transcript, (m.group(1),)
        if (m := _CHUNKS_PATH.match(path)) and method == "GET":
            return "chunks", self.jobs.chunks, (m.group(1),)
        if (m := _SPEAKERS_PATH.match(path)) and method == "PUT":
            return "speakers", self.speaker_names.put, (m.group(1),)
        if path == USAGE and method == "GET":
            return "usage", self.jobs.usage, ()
        if method in ("GET", "HEAD"):
            if path in ("/", "/index.html"):
                return "page", self.page.static, ("index.html",)
            if m := _STATIC_PATH.match(path):
                return "page", self.page.static, (m.group(1),)
            if path == DOCS:
                return "page", self.page.docs, ("",)
            if m := _DOCS_PATH.match(path):
                return "page", self.page.docs, (m.group(1),)
            if m := _MEDIA_PATH.match(path):
                return "media", self.page.media, (m.group(1),)
        if path == OPTIONS and method == "GET":
            return "options", self.page.options, ()
        if path == UPLOADS and method == "POST":
            return "upload_create", self.upload_routes.create, ()
        if (m := _UPLOAD_PATH.match(path)) and method == "GET":
            return "upload_get", self.upload_routes.get, (m.group(1),)
        if (m := _UPLOAD_PATH.match(path)) and method == "DELETE":
            return "upload_delete", self.upload_routes.delete, (m.group(1),)
        if (m := _UPLOAD_CONTENT_PATH.match(path)) and method == "PUT":
            return "upload_content", self.upload_routes.content, (m.group(1),)
        if (m := _MEDIA_TOKEN_PATH.match(path)) and method == "POST":
            return "media_token", self.page.media_token, (m.group(1),)
        raise ApiError(404, "not_found", f"no route for {method} {request.path}")

    def _authenticate(self, request: ApiRequest) -> ApiKey:
        # Failures are limited per client address; a valid key is never refused for its
        # address, since addresses are shared (a NAT, a proxy) and one client guessing keys
        # must not lock the others out. Guessing a 256-bit key is hopeless anyway: the limit
        # keeps a guesser from being cheap and makes it visible.
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = self.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            self._count_auth_failure(request.client)
            raise ApiError(
                401,
                "unauthorized",
                "a valid API key is needed: Authorization: Bearer <key>",
                {"WWW-Authenticate": 'Bearer realm="kscribe"'},
            )
        allowed, retry_after = self.limiter.hit(key.key_id)
        if not allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {self.limiter.per_minute} requests a minute; retry in {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
        return key

    def _count_auth_failure(self, client: str) -> None:
        """Counts a failed authentication from ``client``; 429 once over the limit."""
        allowed, retry_after = self.auth_failures.hit(client)
        if not allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {self.auth_failures.per_minute} failed authentications a "
                f"minute from this address; retry in {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
