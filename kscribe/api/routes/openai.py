"""OpenAI-compatible transcription routes on the api function:
``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``.

What OpenAI's clients (the SDKs, Bazarr, Open WebUI, …) send becomes an ordinary kscribe job:

1. the key is checked (the same tenant keys, ``Authorization: Bearer``) before a byte of the
   body is read;
2. the multipart body is parsed as it streams in; the ``file`` part goes to a temporary file
   on disk (never the whole file in memory) and the request is refused with 413 once it
   passes ``KSCRIBE_API_MAX_UPLOAD_BYTES``;
3. the file is stored under the tenant's own upload prefix,
   ``<input>/tenants/<tenant>/openai/<uuid>/<filename>``, with the job's choices as object
   metadata;
4. the job is created under the object's ``uri#generation`` key — the key ingest uses for the
   bucket notification of that same object — so the API and a notification can never both
   make a job of it (whichever comes second finds the first's job; with the choices on the
   object, both would make the same job);
5. the request waits up to ``KSCRIBE_OPENAI_WAIT_SECONDS`` for the job, then answers in the
   requested ``response_format``, or ``202`` with the job's status URL (``Location``).

The wait never outlasts the api's own limit: it ends ``KSCRIBE_API_TIMEOUT_SECONDS`` after
the request arrived (upload time included), so the 202 always beats the Service's
``timeoutSeconds`` — a client never sees a 504 and never retries into a duplicate job. And
it is rationed: at most ``KSCRIBE_OPENAI_MAX_WAITERS`` requests per process wait at once,
at most half of them (at least one) of one tenant; any other request gets its 202 at once.
A tenant with many slow transcriptions therefore cannot park every thread of the api and
stall other tenants' requests.

Errors are OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from kscribe.api.http import BASE, ApiError, ApiRequest, ApiResponse
from kscribe.asr.models import available_models, model_created
from kscribe.choices import MAX_PROMPT_CHARS, JobChoices, check_text
from kscribe.context import Context
from kscribe.errors import InputError, QueueFull, QuotaExceeded
from kscribe.events import Event
from kscribe.media import containers
from kscribe.observability import metrics
from kscribe.pipeline import backlog
from kscribe.pipeline.partial import finished_chunks
from kscribe.pipeline.stages.announce import announce
from kscribe.pipeline.stages.ingest import DIARIZE_OFF, CheckedChoices, JobRequest, check_choices, ingest
from kscribe.storage import join
from kscribe.storage.notices import notice_of
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenant, Tenants, upload_prefix
from kscribe.tenancy.upload_budget import OverBudget, UploadBudget
from kscribe.values import Job, JobStatus

log = logging.getLogger(__name__)

ROUTES = {"/v1/audio/transcriptions": "transcribe", "/v1/audio/translations": "translate"}
# OpenAI's model names; each means the installation's default model.
OPENAI_MODELS = frozenset(
    {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize", "whisper-large-v3"}
)
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
# Formats a stream=true request may ask for: its events carry text (and, diarized, speakers).
STREAM_FORMATS = ("json", "text", "diarized_json")
# Every OpenAI job writes these, so any response format (and the kscribe API's reads) can be
# served from its outputs.
JOB_FORMATS = ("json", "srt", "vtt", "txt")
_MAX_FIELD_BYTES = 8 * 1024
_MAX_FIELDS = 32
_READ_SIZE = 64 * 1024
_POLL_S = 0.25
# OpenAI's verbose_json names the language; the codes kscribe sees most, named.
LANGUAGE_NAMES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "pl": "polish",
    "ru": "russian",
    "uk": "ukrainian",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "cs": "czech",
    "tr": "turkish",
    "ar": "arabic",
    "he": "hebrew",
    "hi": "hindi",
    "ja": "japanese",
    "ko": "korean",
    "zh": "chinese",
}

ChunkReader = Callable[[], Iterator[bytes]]
Publish = Callable[[list[Event]], None]


MODELS_PATH = "/v1/models"


def handles(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return path in ROUTES or path == MODELS_PATH or path.startswith(MODELS_PATH + "/")


def model_list() -> list[dict[str, Any]]:
    """``GET /v1/models``' entries: the models installed here, and OpenAI's whisper-1 (which
    means the installation's default), in OpenAI's model shape."""
    return [
        {"id": name, "object": "model", "created": created, "owned_by": "kscribe"}
        for name, created in [*((m, model_created(m)) for m in available_models()), ("whisper-1", 0)]
    ]


def stream_chunks(stream: IO[bytes]) -> ChunkReader:
    """The body as it arrives, a bounded piece at a time."""

    def chunks() -> Iterator[bytes]:
        while part := stream.read(_READ_SIZE):
            yield part

    return chunks


def wait_seconds(prefer: str, limit: float) -> float:
    """How long to wait for the job: ``KSCRIBE_OPENAI_WAIT_SECONDS``, or less when the client
    asks with ``Prefer: wait=N`` (RFC 7240)."""
    for preference in prefer.split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait" and value.strip().isdigit():
            return min(limit, float(value.strip()))
    return limit


def openai_error(status: int, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status)
    if kind is None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class OpenAiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, param: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}


class Waiters:
    """Who waits for a job in this process: at most ``limit`` requests, at most half of them
    (at least one) of one tenant. ``slot`` says whether this request may wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_tenant: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def slot(self, tenant: str, limit: int) -> Iterator[bool]:
        with self._lock:
            total = sum(self._by_tenant.values())
            granted = total < limit and self._by_tenant[tenant] < max(1, limit // 2)
            if granted:
                self._by_tenant[tenant] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._by_tenant[tenant] -= 1
                    if not self._by_tenant[tenant]:
                        del self._by_tenant[tenant]

    def waiting(self) -> int:
        with self._lock:
            return sum(self._by_tenant.values())


WAITERS = Waiters()


@dataclass
class Upload:
    """The parsed form: its text fields and the file spooled to disk."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    filename: str = ""
    content_type: str = ""  # as the part declared it: recorded, never stored or served
    size: int = 0

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


def safe_filename(name: str) -> str:
    """The client's file name, reduced to something every store and filesystem takes as one
    plain segment: no directories, controls or odd characters; at most 120 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:120]
    return base or "audio"


def parse_multipart(content_type: str, chunks: ChunkReader, limit: int, scratch: Path) -> Upload:
    """Parse ``multipart/form-data`` as it streams; the ``file`` part goes to a temporary file
    under ``scratch``. More than ``limit`` bytes in all raises a 413."""
    boundary = _boundary(content_type)
    # The decoder's buffer holds what it has not handed out yet: a piece or two.
    decoder = MultipartDecoder(boundary.encode(), max_form_memory_size=4 * _READ_SIZE, max_parts=_MAX_FIELDS + 1)
    upload = Upload()
    scratch.mkdir(parents=True, exist_ok=True)
    sink: IO[bytes] | None = None
    current: Field | File | None = None
    field_bytes = bytearray()
    received = 0
    try:
        # One piece at a time (None: the end); never the whole body at once.
        for chunk in itertools.chain(chunks(), [None]):
            if chunk is not None:
                received += len(chunk)
                if received > limit:
                    raise OpenAiError(413, "file_too_large", f"the request body is over {limit} bytes", "file")
            decoder.receive_data(chunk)
            while not isinstance(event := decoder.next_event(), NeedData | Epilogue):
                if isinstance(event, File):
                    if event.name != "file" or sink is not None:
                        raise OpenAiError(400, "invalid_file", "one file, in the form field 'file'", "file")
                    current = event
                    upload.filename = safe_filename(event.filename)
                    upload.content_type = event.headers.get("content-type", "")[:100]
                    fd, name = tempfile.mkstemp(dir=scratch, prefix="openai-")
                    upload.path = Path(name)
                    sink = os.fdopen(fd, "wb")
                elif isinstance(event, Field):
                    current, field_bytes = event, bytearray()
                elif isinstance(event, Data):
                    if isinstance(current, File) and sink is not None:
                        sink.write(event.data)
                        upload.size += len(event.data)
                    elif isinstance(current, Field):
                        field_bytes += event.data
                        if len(field_bytes) > _MAX_FIELD_BYTES:
                            raise OpenAiError(400, "field_too_large", f"{current.name} is too long", current.name)
                        if not event.more_data:
                            upload.fields.setdefault(current.name, []).append(field_bytes.decode("utf-8", "replace"))
                            if sum(len(v) for v in upload.fields.values()) > _MAX_FIELDS:
                                raise OpenAiError(400, "too_many_fields", "too many form fields")
            if isinstance(event, Epilogue):
                break
        else:
            raise OpenAiError(400, "invalid_body", "the multipart body ends before its closing boundary")
    except (ValueError, RequestEntityTooLarge) as exc:  # werkzeug: malformed, or too many parts
        if sink is not None:
            sink.close()
        discard(upload)
        raise OpenAiError(400, "invalid_body", f"not a valid multipart/form-data body: {exc}") from None
    except BaseException:
        if sink is not None:
            sink.close()
        discard(upload)
        raise
    if sink is not None:
        sink.close()
    if upload.path is None:
        raise OpenAiError(400, "missing_file", "the form field 'file' is required", "file")
    return upload


def discard(upload: Upload) -> None:
    if upload.path is not None:
        upload.path.unlink(missing_ok=True)


def _boundary(content_type: str) -> str:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise OpenAiError(400, "invalid_content_type", "the body must be multipart/form-data")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return value.strip('"')
    raise OpenAiError(400, "invalid_content_type", "multipart/form-data without a boundary")


@dataclass(frozen=True)
class Options:
    model: str
    language: str | None
    response_format: str
    words: bool
    temperature: float
    prompt: str
    retention_days: int
    # The job's choices, checked (model, language, task, formats, prompt, speakers).
    choices: CheckedChoices
    # Server-sent events: transcript.text.delta as chunks finish, then transcript.text.done.
    stream: bool = False
    # diarized_json: the job labels speakers by voice.
    speakers: bool = False


class Gate(Protocol):
    """What the OpenAI routes take from ``kscribe.api.router.Api``: its key check (with its
    rate limits) and its tenants."""

    ctx: Context
    tenants: Tenants

    def _authenticate(self, request: ApiRequest) -> ApiKey: ...


class OpenAiApi:
    """Serves the OpenAI routes over an ``Api`` (its keys, rate limits, tenants)."""

    def __init__(self, api: Gate, clock: Callable[[], float] = time.monotonic):
        self.api = api
        self.ctx = api.ctx
        self.clock = clock
        settings = api.ctx.settings
        self.budget = UploadBudget(settings.api_upload_budget_bytes, settings.api_tenant_upload_budget_bytes)

    def handle(self, request: ApiRequest, chunks: ChunkReader, publish: Publish) -> ApiResponse:
        path = request.path.rstrip("/")
        if path == MODELS_PATH or path.startswith(MODELS_PATH + "/"):
            route = "openai_models"
        else:
            route = "openai_" + ("translations" if ROUTES.get(path) == "translate" else "transcriptions")
        try:
            if route == "openai_models":
                response = self._models(request, path)
            elif request.method != "POST":
                raise OpenAiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
            else:
                key = self._key(request)
                response = self._transcribe(request, key.tenant, ROUTES[path], chunks, publish)
        except OpenAiError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="kscribe"'} if exc.status == 401 else {}
            if exc.status in (429, 503):
                headers["Retry-After"] = "60" if exc.status == 429 else "5"
            headers.update(exc.headers)
            response = ApiResponse(exc.status, openai_error(exc.status, exc.message, exc.code, exc.param), headers)
        metrics.API_REQUESTS.labels(metrics.method_label(request.method), route, str(response.status)).inc()
        return response

    def _models(self, request: ApiRequest, path: str) -> ApiResponse:
        if request.method != "GET":
            raise OpenAiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
        self._key(request)
        models = model_list()
        if path == MODELS_PATH:
            return ApiResponse(200, {"object": "list", "data": models})
        wanted = path.removeprefix(MODELS_PATH + "/")
        for model in models:
            if model["id"] == wanted:
                return ApiResponse(200, model)
        named = repr(wanted[:64])
        raise OpenAiError(404, "model_not_found", f"The model {named} does not exist here", "model")

    def _key(self, request: ApiRequest) -> ApiKey:
        try:
            return self.api._authenticate(request)
        except ApiError as exc:
            code = "invalid_api_key" if exc.status == 401 else exc.code
            raise OpenAiError(exc.status, code, exc.message) from None

    def _tenant(self, name: str) -> Tenant:
        return self.api.tenants.get(name) or Tenant(name)

    # --- the form ----------------------------------------------------------------------
    def _options(self, upload: Upload, task: str) -> Options:
        settings = self.ctx.settings
        model = (upload.one("model") or "").strip()
        if not model:
            raise OpenAiError(400, "missing_model", "model is required (e.g. whisper-1)", "model")
        # OpenAI's names mean the operator's model: the job names none (a path or gs:// default
        # is the operator's to use, never a caller's to name).
        alias = model in OPENAI_MODELS
        if alias:
            model = settings.model
        language = (upload.one("language") or "").strip().lower() or None
        response_format = (upload.one("response_format") or "json").strip()
        if response_format not in RESPONSE_FORMATS:
            raise OpenAiError(
                400, "invalid_response_format", f"response_format must be one of {', '.join(RESPONSE_FORMATS)}"
            )
        if response_format == "diarized_json":
            self._check_diarized(upload, task)
        granularities = upload.fields.get("timestamp_granularities[]", []) + upload.fields.get(
            "timestamp_granularities", []
        )
        if any(g not in ("word", "segment") for g in granularities):
            raise OpenAiError(400, "invalid_timestamp_granularities", "word or segment", "timestamp_granularities")
        if granularities and response_format != "verbose_json":
            # As OpenAI answers: the words would otherwise be dropped without a word.
            raise OpenAiError(
                400,
                "invalid_timestamp_granularities",
                "timestamp_granularities needs response_format verbose_json",
                "timestamp_granularities",
            )
        # The OpenAI SDKs read stream=true's answer as server-sent events: a plain JSON answer
        # made their iterator yield nothing, without an error (issue 26).
        stream = (upload.one("stream") or "").strip().lower() in ("true", "1")
        if stream and response_format not in STREAM_FORMATS:
            raise OpenAiError(
                400,
                "stream_unsupported",
                "stream=true streams text: response_format json, text or diarized_json",
                "stream",
            )
        try:
            temperature = float(upload.one("temperature") or 0)
        except ValueError:
            raise OpenAiError(400, "invalid_temperature", "a number from 0 to 1", "temperature") from None
        if not 0 <= temperature <= 1:
            raise OpenAiError(400, "invalid_temperature", "a number from 0 to 1", "temperature")
        retention = upload.one("retention_days")
        try:
            retention_days = int(retention) if retention else 0
        except ValueError:
            raise OpenAiError(400, "invalid_retention_days", "a whole number of days", "retention_days") from None
        if retention_days and not 1 <= retention_days <= settings.max_retention_days:
            raise OpenAiError(
                400,
                "invalid_retention_days",
                f"retention_days must be 1-{settings.max_retention_days}",
                "retention_days",
            )
        try:
            prompt = check_text("prompt", upload.one("prompt") or "", MAX_PROMPT_CHARS)
        except InputError as exc:
            raise OpenAiError(400, "invalid_prompt", str(exc), "prompt") from None
        speakers = response_format == "diarized_json"
        checked = check_choices(
            JobChoices(
                model=None if alias else model,
                language=language,
                task=task,
                formats=JOB_FORMATS,
                prompt=prompt or None,
                speakers=speakers,
                # Voices, not channels: the request asked for speakers by voice.
                channels="mix" if speakers else None,
            ),
            settings,
        )
        if checked.refused:
            code = {"model": "model_not_found"}.get(checked.refused, f"invalid_{checked.refused}")
            raise OpenAiError(400, code, checked.problem, checked.refused)
        if task == "translate":
            # Translations take the spoken language as found (a language sent is still checked).
            checked = dataclasses.replace(checked, choices=dataclasses.replace(checked.choices, language=None))
        return Options(
            model=model,
            language=checked.choices.language,
            response_format=response_format,
            words="word" in granularities,
            temperature=temperature,
            prompt=prompt,
            retention_days=retention_days,
            stream=stream,
            speakers=speakers,
            choices=checked,
        )

    def _check_diarized(self, upload: Upload, task: str) -> None:
        """diarized_json labels speakers by voice: a transcription's, where the operator
        enabled it, and by voice alone (no reference clips of known speakers)."""
        if task != "transcribe":
            raise OpenAiError(400, "invalid_response_format", "diarized_json is for transcriptions", "response_format")
        if not self.ctx.settings.diarize:
            raise OpenAiError(400, "invalid_response_format", f"diarized_json: {DIARIZE_OFF}", "response_format")
        for name in ("known_speaker_names", "known_speaker_references"):
            if upload.fields.get(name + "[]") or upload.fields.get(name):
                raise OpenAiError(
                    400,
                    "unsupported_parameter",
                    f"{name} is not supported here: speakers are told apart by voice and labelled A, B, …",
                    name,
                )

    # --- the job -----------------------------------------------------------------------
    def _transcribe(
        self, request: ApiRequest, tenant_name: str, task: str, chunks: ChunkReader, publish: Publish
    ) -> ApiResponse:
        settings = self.ctx.settings
        arrived = self.clock()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.api_max_upload_bytes:
            raise OpenAiError(
                413, "file_too_large", f"the request body is over {settings.api_max_upload_bytes} bytes", "file"
            )
        tenant = self._tenant(tenant_name)
        used, limit = self.ctx.jobs.audio_used_today(tenant.name), Tenants.audio_limit_s(settings, tenant)
        if used >= limit > 0:
            raise OpenAiError(429, "quota_exceeded", f"today's {limit / 3600:g} hours of audio are used")
        # Refused before a byte is read: a tenant at its unfinished-job quota (the job would be
        # refused after the whole upload otherwise).
        if 0 < (most := Tenants.max_active_jobs(settings, tenant)) <= self.ctx.jobs.tenant_active_count(tenant.name):
            raise OpenAiError(429, "quota_exceeded", f"tenant {tenant.name} already has {most} unfinished jobs")
        # And the pipeline's line, full: the job would meet QueueFull after the whole upload,
        # and every retry would upload again while the line drains.
        if 0 < settings.queue_max_jobs <= self.ctx.jobs.in_line():
            full = QueueFull(f"{settings.queue_max_jobs} jobs are waiting for the pipeline; try again later")
            code, headers = backlog.refusal(self.ctx, full)
            raise OpenAiError(429, code, str(full), headers=headers)
        largest = min(settings.api_max_upload_bytes, settings.max_input_bytes)
        size = int(declared) if declared.isdigit() else largest
        try:
            self.budget.take(tenant.name, size)
        except OverBudget as exc:
            raise OpenAiError(429 if exc.whose == "tenant" else 503, "too_many_uploads", str(exc)) from None
        try:
            upload = parse_multipart(request.headers.get("content-type", ""), chunks, largest, settings.scratch_dir)
            try:
                options = self._options(upload, task)
                job = self._create(upload, tenant_name, task, options, publish)
            finally:
                discard(upload)
        finally:
            self.budget.give_back(tenant.name, size)
        # The limit counts from the request's arrival: the upload took part of it already.
        wait_s = min(
            wait_seconds(request.headers.get("prefer", ""), settings.openai_wait_s),
            settings.api_timeout_s - (self.clock() - arrived),
        )
        if options.stream:
            headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Kscribe-Job-Id": job.id}
            return ApiResponse(200, b"", headers, stream=self._events(job.id, tenant_name, wait_s))
        with WAITERS.slot(tenant_name, settings.openai_max_waiters) as waiting:
            if waiting and wait_s > 0:
                job = self._wait(job.id, wait_s)
        return self._answer(job, task, options)

    def _events(self, job_id: str, tenant_name: str, wait_s: float) -> Iterator[bytes]:
        """OpenAI's transcription stream: a ``transcript.text.delta`` per chunk as it finishes
        (in order; the chunk's own text, before the job's merge), then ``transcript.text.done``
        with the job's whole text — or an ``error`` event, which the SDKs raise, when the job
        failed or did not end within the wait (it goes on: its status URL is in the message)."""
        ctx, settings = self.ctx, self.ctx.settings
        deadline = self.clock() + wait_s
        sent, streamed = 0, False
        with WAITERS.slot(tenant_name, settings.openai_max_waiters) as waiting:
            while True:
                job = ctx.jobs.require(job_id)
                for chunk in finished_chunks(ctx, job_id, job.chunks_total, sent):
                    text = "".join(s.text for s in chunk.segments)
                    if sent == 0:
                        text = text.lstrip()
                    sent += 1
                    if text:
                        streamed = True
                        yield _sse("transcript.text.delta", {"type": "transcript.text.delta", "delta": text})
                if job.status.terminal or not waiting or self.clock() >= deadline:
                    break
                time.sleep(min(_POLL_S, max(0.0, deadline - self.clock())))
        if job.status is JobStatus.SUCCEEDED:
            transcript = json.loads(self._output(job, "json"))
            text = str(transcript.get("text", ""))
            if not streamed and text:
                yield _sse("transcript.text.delta", {"type": "transcript.text.delta", "delta": text})
            if job.speakers:
                # Who said what is known once the job's voices are clustered, at its end.
                for segment in diarized_json(transcript)["segments"]:
                    yield _sse("transcript.text.segment", segment)
            yield _sse("transcript.text.done", {"type": "transcript.text.done", "text": text})
            return
        if job.status is JobStatus.FAILED:
            error = openai_error(400, job.error or "the transcription failed", "transcription_failed", "file")
        elif job.status is JobStatus.CANCELLED:
            error = openai_error(409, "the transcription was cancelled", "cancelled")
        else:
            message = f"the job is still {job.status.value}: follow {BASE}/{job.id}"
            error = openai_error(504, message, "still_running")
        yield _sse("error", error)

    def _create(self, upload: Upload, tenant_name: str, task: str, options: Options, publish: Publish) -> Job:
        ctx, settings = self.ctx, self.ctx.settings
        assert upload.path is not None
        folder = join(upload_prefix(settings, tenant_name), "openai", uuid.uuid4().hex)
        uri = join(folder, upload.filename)
        choices = options.choices.choices
        # The choices ride on the object, so the notification of this very upload — should it
        # reach ingest first — makes the same job.
        metadata = choices.to_metadata()
        # Stored with a type from a fixed list by the file's name, never the part's own
        # Content-Type: the client's word reaches nothing a browser reads.
        ctx.blobs.upload(upload.path, uri, containers.media_type_of_name(uri), metadata)
        info = ctx.blobs.stat(uri)
        if info is None:
            raise OpenAiError(503, "unavailable", "the upload could not be stored; retry later")
        notice = notice_of(info)
        tenant = self._tenant(tenant_name)
        job_request = JobRequest(
            key=notice.dedupe_key,
            tenant=tenant_name,
            max_active=Tenants.max_active_jobs(settings, tenant),
            origin="openai",
        )
        try:
            result = ingest(notice, ctx, options.choices, job_request)
        except QuotaExceeded as exc:
            ctx.blobs.delete_prefix(folder)
            code, headers = backlog.refusal(ctx, exc)
            raise OpenAiError(429, code, str(exc), headers=headers) from None
        job = result.job
        assert job is not None  # explicit requests are never skipped
        if job.tenant != tenant_name:  # cannot happen: the object is under the tenant's prefix
            raise OpenAiError(500, "internal_error", "the upload's job belongs elsewhere")
        if result.created:
            metrics.TENANT_JOBS.labels(metrics.tenant_label(tenant_name, known=True)).inc()
        from kscribe.pipeline import retention

        retention.adopt(ctx, job, options.retention_days, owned_input=folder)
        try:
            publish(announce(job))
        except Exception:
            log.exception("could not announce job %s", job.id)
            if result.created:
                ctx.jobs.discard(job.id, job_request.key)
                ctx.blobs.delete_prefix(folder)
            raise OpenAiError(503, "unavailable", "the pipeline cannot take jobs right now; retry later") from None
        log.info("openai %s: job %s for %s (%d bytes)", task, job.id, uri, upload.size)
        return ctx.jobs.get(job.id) or job

    def _wait(self, job_id: str, wait_s: float) -> Job:
        """The job once it ended, or as it stands when the wait is over."""
        deadline = self.clock() + wait_s
        while True:
            job = self.ctx.jobs.require(job_id)
            if job.status.terminal or self.clock() >= deadline:
                return job
            time.sleep(min(_POLL_S, max(0.0, deadline - self.clock())))

    # --- the answer --------------------------------------------------------------------
    def _answer(self, job: Job, task: str, options: Options) -> ApiResponse:
        status_url = f"{BASE}/{job.id}"
        if not job.status.terminal:
            return ApiResponse(
                202,
                {"id": job.id, "status": job.status.value, "status_url": status_url},
                {"Location": status_url, "Retry-After": "10"},
            )
        if job.status is JobStatus.CANCELLED:
            raise OpenAiError(409, "cancelled", "the transcription was cancelled")
        if job.status is JobStatus.FAILED:
            raise OpenAiError(400, "transcription_failed", job.error or "the transcription failed", "file")
        headers = {"X-Kscribe-Job-Id": job.id, "Location": status_url}
        fmt = options.response_format
        if fmt in ("srt", "vtt"):
            return ApiResponse(200, self._output(job, fmt), {**headers, "Content-Type": "text/plain; charset=utf-8"})
        transcript = json.loads(self._output(job, "json"))
        text = str(transcript.get("text", ""))
        if fmt == "text":
            return ApiResponse(200, text + "\n", {**headers, "Content-Type": "text/plain; charset=utf-8"})
        if fmt == "json":
            return ApiResponse(200, {"text": text}, headers)
        if fmt == "diarized_json":
            return ApiResponse(200, diarized_json(transcript), headers)
        return ApiResponse(200, verbose_json(transcript, task, options), headers)

    def _output(self, job: Job, fmt: str) -> str:
        from kscribe.storage import is_within

        uri = job.outputs.get(fmt, "")
        if not is_within(uri, job.output_uri):
            raise OpenAiError(500, "output_missing", f"the job did not write {fmt}")
        return self.ctx.blobs.read_bytes(uri).decode("utf-8")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event (its data on one line: JSON escapes newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def speaker_letters(speakers: list[str]) -> dict[str, str]:
    """OpenAI's speaker labels for kscribe's, in order of first appearance: ``A``, ``B``, …
    ``Z``, ``AA``, … (an unlabelled segment keeps ``""``)."""
    letters: dict[str, str] = {"": ""}
    for speaker in speakers:
        if speaker not in letters:
            n, label = len(letters), ""
            while n:
                n, rest = divmod(n - 1, 26)
                label = chr(ord("A") + rest) + label
            letters[speaker] = label
    return letters


def diarized_json(transcript: dict[str, Any]) -> dict[str, Any]:
    """kscribe's JSON output of a job with speakers as OpenAI's ``diarized_json``: a
    ``transcript.text.segment`` per segment, with its speaker as a letter."""
    segments = [s for s in transcript.get("segments") or [] if str(s.get("text", "")).strip()]
    letters = speaker_letters([str(s.get("speaker") or "") for s in segments])
    return {
        "task": "transcribe",
        "duration": transcript.get("duration", 0.0),
        "text": transcript.get("text", ""),
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": segment["start"],
                "end": segment["end"],
                "text": str(segment["text"]).strip(),
                "speaker": letters[str(segment.get("speaker") or "")],
            }
            for index, segment in enumerate(segments)
        ],
    }


def verbose_json(transcript: dict[str, Any], task: str, options: Options) -> dict[str, Any]:
    """kscribe's JSON output as OpenAI's ``verbose_json``."""
    language = str(transcript.get("language") or "")
    segments = []
    words = []
    for index, segment in enumerate(transcript.get("segments") or []):
        segments.append(
            {
                "id": index,
                "seek": 0,
                "start": segment["start"],
                "end": segment["end"],
                "text": segment["text"],
                "tokens": [],
                "temperature": options.temperature,
                "avg_logprob": segment.get("avg_logprob", 0.0),
                "compression_ratio": 0.0,
                "no_speech_prob": segment.get("no_speech_prob", 0.0),
            }
        )
        words += [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in segment.get("words") or []]
    body: dict[str, Any] = {
        "task": task,
        "language": LANGUAGE_NAMES.get(language, language),
        "duration": transcript.get("duration", 0.0),
        "text": transcript.get("text", ""),
        "segments": segments,
    }
    if options.words:
        body["words"] = words
    return body
