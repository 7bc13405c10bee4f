"""The HTTP job API, without a web framework: ``Api.handle(ApiRequest) -> ApiResponse``.

The `api` function adapts Flask's request to ``ApiRequest`` and publishes the events an
answer carries. Errors are ``{"error": {"code", "message"}}`` with the matching status.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from kscribe import batch_api, batches, keys, links, metrics, retention, webui
from kscribe.api_input import MAX_JSON_DEPTH, BodyReader, BodyTooLarge, loads_bounded, no_body
from kscribe.api_spec import OPENAPI
from kscribe.apikeys import ApiKey, ApiKeys
from kscribe.callbacks import check_url
from kscribe.context import Context
from kscribe.errors import CallbackRefused, ConfigError, IdempotencyKeyReused, InputError, ModelNotFound, QuotaExceeded
from kscribe.events import Event
from kscribe.formats import CONTENT_TYPES
from kscribe.models import available_models, check_model
from kscribe.notices import JobChoices, check_metadata, parse_subtitles
from kscribe.ratelimit import RateLimiter
from kscribe.settings import MEDIA_EXTENSIONS, parse_formats
from kscribe.stages import JobRequest, ingest, layout
from kscribe.stages.announce import announce
from kscribe.storage import is_within
from kscribe.subtitles import OPTIONS as SHAPING_OPTIONS
from kscribe.tenants import Tenant, Tenants, source_allowed
from kscribe.usage import usage_view
from kscribe.values import FORMATS as ALL_FORMATS
from kscribe.values import TASKS, Job, JobStatus, ObjectNotice
from kscribe.vocabulary import MAX_HOTWORDS_CHARS, MAX_PROMPT_CHARS, check_text, parse_replacements

log = logging.getLogger(__name__)

BASE = "/api/v1/transcriptions"
USAGE = "/api/v1/usage"
OPTIONS = "/api/v1/options"
UPLOADS = "/api/v1/uploads"
_UPLOAD_PATH = re.compile(rf"^{UPLOADS}/([0-9a-f]{{32}})$")
_UPLOAD_CONTENT_PATH = re.compile(rf"^{UPLOADS}/([0-9a-f]{{32}})/content$")
_MEDIA_TOKEN_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/media$")
_MEDIA_PATH = re.compile(r"^/media/([A-Za-z0-9_-]{1,64})$")
_STATIC_PATH = re.compile(r"^/web/([a-z0-9-]+\.[a-z]+)$")
_UPLOAD_FIELDS = {"filename", "size", "content_type", "language", "task", "model", "formats"}
# Redis takes list positions as 64-bit integers; no listing comes near this.
MAX_CURSOR = 2**53
_JOB_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})$")
_TRANSCRIPT_PATH = re.compile(rf"^{BASE}/([0-9a-f]{{32}})/transcript$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_FIELDS = {
    "source",
    "language",
    "task",
    "model",
    "formats",
    "callback_url",
    "metadata",
    "retention_days",
    "links",
    "prompt",
    "hotwords",
    "replacements",
    "subtitles",
}


@dataclass
class ApiRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    # ``read_body(limit)`` returns the body or raises BodyTooLarge; it is called only after
    # the key is checked, so an unauthenticated upload costs nothing to refuse.
    read_body: BodyReader = no_body
    client: str = ""  # the client's address: failed authentications are limited per address
    # The raw body and its declared length, for the one route that streams it (an upload's
    # bytes through the api, after the key and the upload are checked).
    body_stream: IO[bytes] | None = None
    content_length: int | None = None


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # Undo for a created job whose announcement cannot be published.
    rollback: Callable[[], None] | None = None
    # A body sent piece by piece (media), instead of ``body``.
    stream: Iterator[bytes] | None = None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": job.progress,
        "source": job.source_uri,
        "model": job.model,
        "language": job.language,
        "task": job.task,
        "formats": list(job.formats),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "duration_s": job.duration_s,
        "chunks": {"total": job.chunks_total, "done": job.chunks_done},
        "timings": job.timings,
        "detected_language": job.detected_language or None,
        "error": {"stage": job.failed_stage, "message": job.error} if job.status is JobStatus.FAILED else None,
        "outputs": job.outputs,
        "metadata": job.metadata,
        "prompt": job.prompt or None,
        "hotwords": job.hotwords or None,
        "replacements": job.replacements,
        "subtitles": job.subtitles,
        "retention_days": job.retention_days or None,
        "batch_id": job.batch_id or None,
        "status_url": f"{BASE}/{job.id}",
        "callback": {
            "url": job.callback_url,
            "status": job.callback_status or None,
            "attempts": job.callback_attempts,
            "error": job.callback_error or None,
        }
        if job.callback_url
        else None,
    }


class Api:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.keys = ApiKeys(ctx.kv)
        self.tenants = Tenants(ctx.kv)
        self.limiter = RateLimiter(ctx.kv, ctx.settings.api_rate_per_minute)
        self.auth_failures = RateLimiter(
            ctx.kv, ctx.settings.api_auth_failures_per_minute, key_for=keys.auth_failures_window
        )
        self.uploads = webui.Uploads(ctx.kv)
        self.media_tokens = webui.MediaTokens(ctx.kv)
        self.batches = batch_api.BatchRoutes(self)
        # How an upload that came through the api reaches ingest (the bucket trigger's stand-in).
        self.notify_upload: Callable[[Any], None] = lambda info: webui.notify_ingest(ctx.settings, info)

    def handle(self, request: ApiRequest) -> ApiResponse:
        route = "unknown"
        try:
            route, handler, args = self._route(request)
            if handler is None:  # the OpenAPI document: public, no key
                response = ApiResponse(200, OPENAPI)
            elif route in _PUBLIC:  # the page's files and media tokens: no bearer key
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
        if path.startswith(batch_api.BATCHES) and (found := batch_api.route(self, method, path)):
            return found
        if path == BASE:
            if method == "POST":
                return "create", self._create, ()
            if method == "GET":
                return "list", self._list, ()
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {BASE}")
        if m := _JOB_PATH.match(path):
            if method == "GET":
                return "get", self._get, (m.group(1),)
            if method == "DELETE":
                return "cancel", self._cancel, (m.group(1),)
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on a transcription")
        if (m := _TRANSCRIPT_PATH.match(path)) and method == "GET":
            return "transcript", self._transcript, (m.group(1),)
        if path == USAGE and method == "GET":
            return "usage", self._usage, ()
        if method in ("GET", "HEAD"):
            if path in ("/", "/index.html"):
                return "page", self._static, ("index.html",)
            if m := _STATIC_PATH.match(path):
                return "page", self._static, (m.group(1),)
            if m := _MEDIA_PATH.match(path):
                return "media", self._media, (m.group(1),)
        if path == OPTIONS and method == "GET":
            return "options", self._options, ()
        if path == UPLOADS and method == "POST":
            return "upload_create", self._upload_create, ()
        if (m := _UPLOAD_PATH.match(path)) and method == "GET":
            return "upload_get", self._upload_get, (m.group(1),)
        if (m := _UPLOAD_CONTENT_PATH.match(path)) and method == "PUT":
            return "upload_content", self._upload_content, (m.group(1),)
        if (m := _MEDIA_TOKEN_PATH.match(path)) and method == "POST":
            return "media_token", self._media_token, (m.group(1),)
        raise ApiError(404, "not_found", f"no route for {method} {request.path}")

    def _authenticate(self, request: ApiRequest) -> ApiKey:
        # Failures are limited per client address; a valid key is never refused for its
        # address, since addresses are shared (a NAT, a proxy) and one client guessing keys
        # must not lock the others out. Guessing a 256-bit key is hopeless anyway: the limit
        # keeps a guesser from being cheap and makes it visible.
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = self.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            allowed, retry_after = self.auth_failures.hit(request.client)
            if not allowed:
                raise self._auth_failures_error(retry_after)
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

    def _auth_failures_error(self, retry_after: int) -> ApiError:
        return ApiError(
            429,
            "rate_limited",
            f"more than {self.auth_failures.per_minute} failed authentications a "
            f"minute from this address; retry in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )

    def _own_job(self, key: ApiKey, job_id: str) -> Job:
        job = self.ctx.jobs.get(job_id)
        # Another tenant's job answers exactly as a missing one: its existence is not told.
        if job is None or job.tenant != key.tenant:
            raise ApiError(404, "not_found", f"no transcription {job_id}")
        return job

    # --- POST /api/v1/transcriptions -------------------------------------------------
    def _parse_create(self, request: ApiRequest, fields: set[str] = _FIELDS) -> dict[str, Any]:
        try:
            raw = request.read_body(self.ctx.settings.api_max_body_bytes)
        except BodyTooLarge:
            limit = self.ctx.settings.api_max_body_bytes
            raise ApiError(413, "body_too_large", f"the body is over {limit} bytes") from None
        try:
            body = loads_bounded(raw or b"null")
        except ValueError:  # UnicodeDecodeError and nesting deeper than MAX_JSON_DEPTH included
            raise ApiError(
                400, "invalid_json", f"the body is not valid JSON (UTF-8, nested at most {MAX_JSON_DEPTH} deep)"
            ) from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", "the body must be a JSON object")
        unknown = sorted(set(body) - fields)
        if unknown:
            raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
        return body

    def _field_error(self, name: str, message: str) -> ApiError:
        return ApiError(400, f"invalid_{name}", f"{name}: {message}")

    def _choices(self, body: dict[str, Any]) -> JobChoices:
        def optional_str(name: str) -> str | None:
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise self._field_error(name, "must be a string")
            return value or None

        language, task, model = optional_str("language"), optional_str("task"), optional_str("model")
        callback_url = optional_str("callback_url")
        if language and not _LANGUAGE.match(language):
            raise self._field_error("language", f"{language!r} is not a language code such as en or de")
        if task and task not in TASKS:
            raise self._field_error("task", f"must be {' or '.join(TASKS)}")
        if model:
            try:
                check_model(model, allow_custom=False)  # paths and gs:// models are the operator's
            except ModelNotFound as exc:
                raise self._field_error("model", str(exc)) from None
        formats = body.get("formats")
        if isinstance(formats, list) and all(isinstance(f, str) for f in formats):
            formats = ",".join(formats)
        if formats is not None and not isinstance(formats, str):
            raise self._field_error("formats", f"a list of {', '.join(ALL_FORMATS)}")
        try:
            if formats:
                parse_formats(formats)
        except ConfigError as exc:
            raise self._field_error("formats", str(exc)) from None
        if callback_url:
            try:
                check_url(callback_url, self.ctx.settings.callback_allow)
            except CallbackRefused as exc:
                raise self._field_error("callback_url", str(exc)) from None
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise self._field_error("metadata", "must be an object of strings")
        try:
            check_metadata(metadata)
        except InputError as exc:
            raise self._field_error("metadata", str(exc).removeprefix("metadata: ")) from None
        prompt, hotwords, replacements, subtitles = self._vocabulary(body)
        return JobChoices(
            model=model,
            language=language,
            task=task,
            formats=formats or None,
            callback_url=callback_url,
            metadata=metadata,
            prompt=prompt,
            hotwords=hotwords,
            replacements=replacements,
            subtitles=subtitles,
        )

    def _vocabulary(self, body: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str], dict[str, float]]:
        """prompt, hotwords (a string or a list of strings), replacements and subtitles."""
        texts: dict[str, str | None] = {}
        for name, limit in (("prompt", MAX_PROMPT_CHARS), ("hotwords", MAX_HOTWORDS_CHARS)):
            try:
                texts[name] = check_text(name, body.get(name) or "", limit) or None
            except InputError as exc:
                raise self._field_error(name, str(exc).removeprefix(f"{name} ")) from None
        try:
            replacements = parse_replacements(body.get("replacements") or {})
        except InputError as exc:
            raise self._field_error("replacements", str(exc).removeprefix("replacements")) from None
        raw = body.get("subtitles") or {}
        if not isinstance(raw, dict):
            raise self._field_error("subtitles", f"must be an object of {', '.join(SHAPING_OPTIONS)}")
        try:
            subtitles = parse_subtitles(raw)
        except InputError as exc:
            raise self._field_error("subtitles", str(exc)) from None
        return texts["prompt"], texts["hotwords"], replacements, subtitles

    def _source(self, body: dict[str, Any], tenant: Tenant) -> ObjectNotice:
        source = body.get("source")
        if not isinstance(source, str) or not source:
            raise self._field_error("source", "required: gs://bucket/object")
        if not source.startswith("gs://") and not (self.ctx.settings.api_local_sources and source.startswith("/")):
            raise self._field_error("source", "must be gs://bucket/object")
        # Whatever the tenant may not read answers exactly as a missing object does, so the
        # answer tells nothing about what exists outside its own prefixes.
        missing = ApiError(400, "source_not_found", f"source: {source} does not exist (or is not readable)")
        if not source_allowed(self.ctx.settings, tenant, source):
            raise missing
        info = self.ctx.blobs.stat(source)
        if info is None:
            raise missing
        if info.metadata.get(webui.META_UPLOAD):
            # The web page's uploads get their one job from ingest; never a second.
            raise ApiError(409, "upload_has_job", f"source: {source} came through an upload session and has its job")
        return ObjectNotice(
            uri=info.uri,
            generation=info.generation,
            size=info.size,
            content_type=info.content_type,
            metadata=info.metadata,
        )

    def _tenant(self, key: ApiKey) -> Tenant:
        return self.tenants.get(key.tenant) or Tenant(key.tenant)

    def _create(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        body = self._parse_create(request)
        choices = self._choices(body)
        retention_days, callback_links = self._extras(body)
        tenant = self._tenant(key)
        notice = self._source(body, tenant)
        idempotency = request.headers.get("idempotency-key", "")
        if len(idempotency) > 200:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is longer than 200 characters")
        settings = self.ctx.settings
        if (
            (used := self.ctx.jobs.audio_used_today(tenant.name))
            >= (limit := Tenants.audio_limit_s(settings, tenant))
            > 0
        ):
            raise ApiError(
                429,
                "quota_exceeded",
                f"today's {limit / 3600:g} hours of audio are used "
                f"({used / 3600:.2f} h); the allowance renews at 00:00 UTC",
            )
        # With the header a retried POST finds the first job; without it every POST is new.
        job_request = JobRequest(
            key=f"api:{key.tenant}:{idempotency or uuid.uuid4().hex}",
            tenant=key.tenant,
            request_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            max_active=Tenants.max_active_jobs(settings, tenant),
        )
        try:
            result = ingest(notice, self.ctx, choices, job_request)
        except IdempotencyKeyReused as exc:
            raise ApiError(422, "idempotency_key_reused", str(exc)) from None
        except QuotaExceeded as exc:
            raise ApiError(429, "quota_exceeded", str(exc), {"Retry-After": "60"}) from None
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

    def _extras(self, body: dict[str, Any]) -> tuple[int, bool]:
        """``retention_days`` (1 to the operator's maximum) and ``links`` (the callback
        carries result links)."""
        days = body.get("retention_days")
        limit = self.ctx.settings.max_retention_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit):
            raise self._field_error("retention_days", f"a whole number of days from 1 to {limit}")
        wants_links = body.get("links", False)
        if not isinstance(wants_links, bool):
            raise self._field_error("links", "true or false")
        return days or 0, wants_links

    # --- reads and cancel ------------------------------------------------------------
    def _get(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        job = self._own_job(key, job_id)
        return ApiResponse(200, {**job_view(job), "links": links.links_for(self.ctx, job)})

    def _list(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
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
        if batch_id := request.query.get("batch_id"):
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
                    items.append({**job_view(job), "links": links.links_for(self.ctx, job)})
                if len(items) == limit:
                    next_cursor = position + offset + 1
                    break
            if next_cursor is not None or len(ids) < limit:
                break
            position += limit
        return ApiResponse(200, {"items": items, "next_cursor": str(next_cursor) if next_cursor is not None else None})

    def _transcript(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        job = self._own_job(key, job_id)
        fmt = request.query.get("format", "json")
        if fmt not in ALL_FORMATS:
            raise ApiError(400, "invalid_format", f"format must be one of {', '.join(ALL_FORMATS)}")
        if job.status is not JobStatus.SUCCEEDED:
            raise ApiError(409, "not_ready", f"the transcription is {job.status.value}, not succeeded")
        uri = job.outputs.get(fmt, "")
        # Served only from the job's own location, whatever the record says.
        if not is_within(uri, job.output_uri):
            raise ApiError(404, "format_not_available", f"this job did not produce {fmt}")
        return ApiResponse(200, self.ctx.blobs.read_bytes(uri), {"Content-Type": CONTENT_TYPES[fmt]})

    def _cancel(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        if request.query.get("purge", "").lower() in ("true", "1"):
            # Idempotent: 204 once nothing of the id is left for this tenant — purged now,
            # purged before, or never its own (which answers as a missing one does).
            retention.purge(self.ctx, job_id, tenant=key.tenant, reason="api")
            return ApiResponse(204, b"")
        job = self._own_job(key, job_id)
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

    # --- GET /api/v1/usage -------------------------------------------------------------
    def _usage(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        return ApiResponse(200, usage_view(self.ctx, self._tenant(key)))

    # --- the web page ----------------------------------------------------------------
    def _static(self, request: ApiRequest, name: str) -> ApiResponse:
        found = webui.static_file(name)
        if found is None:
            raise ApiError(404, "not_found", f"no route for {request.method} {request.path}")
        data, content_type = found
        return ApiResponse(200, data, {"Content-Type": content_type, "Cache-Control": "no-cache"})

    def _options(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
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
                "upload": {
                    "mode": settings.web_uploads,
                    "max_bytes": settings.max_input_bytes,
                    "chunk_bytes": webui.UPLOAD_CHUNK_BYTES,
                    "extensions": sorted(MEDIA_EXTENSIONS),
                },
            },
        )

    def _check_quota(self, tenant: Tenant) -> None:
        settings = self.ctx.settings
        if 0 < (limit := Tenants.max_active_jobs(settings, tenant)) <= self.ctx.jobs.tenant_active_count(tenant.name):
            raise ApiError(
                429,
                "quota_exceeded",
                f"tenant {tenant.name} already has {limit} unfinished jobs",
                {"Retry-After": "60"},
            )
        if (
            (used := self.ctx.jobs.audio_used_today(tenant.name))
            >= (limit_s := Tenants.audio_limit_s(settings, tenant))
            > 0
        ):
            raise ApiError(
                429, "quota_exceeded", f"today's {limit_s / 3600:g} hours of audio are used ({used / 3600:.2f} h)"
            )

    def _upload_create(self, request: ApiRequest, key: ApiKey) -> ApiResponse:
        """An upload session for one file in the tenant's own upload prefix; ingest makes its job."""
        body = self._parse_create(request, _UPLOAD_FIELDS)
        choices = self._choices({k: body[k] for k in ("language", "task", "model", "formats") if k in body})
        name, size = body.get("filename"), body.get("size")
        content_type = body.get("content_type") or "application/octet-stream"
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise self._field_error("filename", "required: the file's name")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise self._field_error("size", "required: the file's size in bytes (at least 1)")
        if size > self.ctx.settings.max_input_bytes:
            raise ApiError(413, "file_too_large", f"the file is over {self.ctx.settings.max_input_bytes} bytes")
        if not isinstance(content_type, str) or not re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type):
            raise self._field_error("content_type", "a MIME type such as video/mp4")
        tenant = self._tenant(key)
        self._check_quota(tenant)
        upload = self.uploads.new(self.ctx.settings, key.tenant, name, size, content_type)
        metadata = webui.upload_metadata(
            upload.id,
            {
                "language": choices.language or "",
                "model": choices.model or "",
                "task": choices.task or "",
                "formats": choices.formats or "",
            },
        )
        self.uploads.set_metadata(upload.id, metadata)
        if self.ctx.settings.web_uploads == "direct":
            url = webui.resumable_session(self.ctx, upload, metadata, request.headers.get("origin"))
        else:
            url = f"{UPLOADS}/{upload.id}/content"
        return ApiResponse(
            201,
            {
                "id": upload.id,
                "mode": self.ctx.settings.web_uploads,
                "upload_url": url,
                "status_url": f"{UPLOADS}/{upload.id}",
            },
            {"Location": f"{UPLOADS}/{upload.id}"},
        )

    def _own_upload(self, key: ApiKey, upload_id: str) -> webui.Upload:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.tenant != key.tenant:
            raise ApiError(404, "not_found", f"no upload {upload_id}")
        return upload

    def _upload_get(self, request: ApiRequest, key: ApiKey, upload_id: str) -> ApiResponse:
        """The upload and, once ingest made it, its one job (found by the object it stored)."""
        upload = self._own_upload(key, upload_id)
        info = self.ctx.blobs.stat(upload.uri)
        job = None
        if info is not None and info.metadata.get(webui.META_UPLOAD) == upload.id:
            job_id = self.ctx.jobs.job_id_for(f"{info.uri}#{info.generation}")
            found = self.ctx.jobs.get(job_id) if job_id else None
            job = job_view(found) if found is not None and found.tenant == key.tenant else None
            if job_id is None and upload.state == "stored" and self.ctx.settings.web_uploads == "api":
                self.notify_upload(info)  # the first notification was lost; ingest dedupes
        state = "received" if info is not None else upload.state
        return ApiResponse(200, {"id": upload.id, "state": state, "size": upload.size, "job": job})

    def _upload_content(self, request: ApiRequest, key: ApiKey, upload_id: str) -> ApiResponse:
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
        return self._upload_get(request, key, upload_id)

    def _media_token(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        """A short-lived URL of the job's source for the page's <video>, bound to this job."""
        job = self._own_job(key, job_id)
        token = self.media_tokens.issue(job.id, key.tenant)
        return ApiResponse(
            201, {"url": f"/media/{token}", "expires_in": webui.MEDIA_TOKEN_TTL_S}, {"Cache-Control": "no-store"}
        )

    def _media(self, request: ApiRequest, token: str) -> ApiResponse:
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
            allowed, retry_after = self.auth_failures.hit(request.client)
            if not allowed:
                raise self._auth_failures_error(retry_after)
            raise ApiError(404, "not_found", "no such media (the link expired: open the transcript again)")
        info = self.ctx.blobs.stat(job.source_uri)
        if info is None or info.generation != job.source_generation:
            raise ApiError(404, "not_found", "the source is no longer in the bucket")
        headers = {
            "Content-Type": _media_type(info.content_type, job.source_uri),
            "Accept-Ranges": "bytes",
            "Cache-Control": "private, no-store",
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
            None
            if request.method == "HEAD"
            else webui.read_range(self.ctx, job.source_uri, info.generation, start, end)
        )
        return ApiResponse(status, b"", headers, stream=stream)


_PUBLIC = {"page", "media"}


def _media_type(content_type: str, uri: str) -> str:
    """What the browser is told the source is: audio or video, else by its extension; never
    anything it would render as a document."""
    if content_type.split("/", 1)[0] in ("audio", "video"):
        return content_type
    ext = uri.rsplit(".", 1)[-1].lower()
    return {"mp3": "audio/mpeg", "wav": "audio/wav", "m4a": "audio/mp4", "webm": "video/webm"}.get(ext, "video/mp4")
