"""Ingest: a storage notification (or an explicit request) becomes a validated job."""

from __future__ import annotations

import logging
import posixpath
import uuid
from dataclasses import dataclass

from kscribe import metrics
from kscribe.callbacks import check_url
from kscribe.context import Context
from kscribe.errors import ConfigError, InputError
from kscribe.models import check_model
from kscribe.notices import META_ROLE, JobChoices
from kscribe.settings import MEDIA_EXTENSIONS, parse_formats
from kscribe.storage import is_within
from kscribe.values import Job, ObjectNotice

log = logging.getLogger(__name__)

STAGE = "ingest"


@dataclass(frozen=True)
class IngestResult:
    job: Job | None
    created: bool
    skipped: str = ""


def _output_stem(uri: str) -> str:
    """``gs://in/talks/a.mp4`` → ``talks/a`` (folders kept, so names cannot collide);
    a local file → its base name."""
    name = uri.split("/", 3)[3] if uri.startswith("gs://") else uri.rsplit("/", 1)[-1]
    return posixpath.splitext(name)[0] or name


def _extension(uri: str) -> str:
    return posixpath.splitext(uri.rsplit("/", 1)[-1])[1].lstrip(".").lower()


def _skip_reason(notice: ObjectNotice, ctx: Context, explicit: bool) -> str:
    settings = ctx.settings
    if notice.metadata.get(META_ROLE) or any(
        is_within(notice.uri, p) for p in (settings.work_uri, settings.output_uri)
    ):
        return "written by kscribe"
    if explicit:
        return ""
    if notice.uri.endswith("/"):
        return "a folder placeholder, not a file"
    family = notice.content_type.split("/", 1)[0].lower()
    if family not in ("audio", "video") and _extension(notice.uri) not in MEDIA_EXTENSIONS:
        return f"not media by name or type ({notice.content_type or 'no content type'})"
    if notice.size > settings.max_input_bytes:
        return f"{notice.size} bytes is over the {settings.max_input_bytes}-byte limit"
    return ""


def _validate(notice: ObjectNotice, choices: JobChoices, ctx: Context, model: str) -> tuple[str, str]:
    """Why this job cannot succeed, as (metric reason, message), or ("", "").
    Checked before any media work starts."""
    if notice.size == 0:
        return "empty", "the file is empty (0 bytes)"
    if notice.size > ctx.settings.max_input_bytes:
        return "too_large", f"the file is {notice.size} bytes, over the {ctx.settings.max_input_bytes}-byte limit"
    if (choices.task or ctx.settings.task) not in ("transcribe", "translate"):
        return "bad_request", f"task must be transcribe or translate, not {choices.task!r}"
    try:
        check_model(model)
        if choices.formats:
            parse_formats(choices.formats)
        ctx.blobs.ensure_writable(ctx.settings.output_uri)
        if choices.callback_url:
            check_url(choices.callback_url, ctx.settings.callback_allow)
    except (InputError, ConfigError) as exc:
        return metrics.failure_reason(exc) if isinstance(exc, InputError) else "bad_request", str(exc)
    return "", ""


def ingest(notice: ObjectNotice, ctx: Context, choices: JobChoices | None = None,
           explicit: bool = False, request_key: str | None = None, tenant: str = "") -> IngestResult:
    """Create the job for ``notice`` once per ``request_key`` (default ``uri#generation``).

    Objects that are not media (by name or type), too large, or written by kscribe are
    skipped with a logged reason — unless ``explicit`` (someone asked for this very file), in
    which case a bad file becomes a failed job the asker can see. A repeated notification
    (or request with the same key) returns the existing job with ``created=False``.
    """
    skipped = _skip_reason(notice, ctx, explicit)
    if skipped:
        log.info("skipping %s: %s", notice.uri, skipped)
        return IngestResult(job=None, created=False, skipped=skipped)

    key = request_key or notice.dedupe_key
    # Duplicates are the common case under at-least-once delivery: answer them with one
    # lookup, before validation does any I/O. (A job created between this lookup and the
    # create below is still caught by create's own check.)
    existing = ctx.jobs.job_id_for(key)
    if existing is not None:
        job = ctx.jobs.get(existing)
        if job is not None:
            log.info("duplicate of %s: job %s exists", key, job.id)
            return IngestResult(job=job, created=False)

    choices = choices or JobChoices.from_metadata(notice.metadata)
    settings = ctx.settings
    model = choices.model or settings.model
    try:
        formats = parse_formats(choices.formats) if choices.formats else settings.formats
    except ConfigError:
        formats = settings.formats  # recorded as the failure reason by _validate
    job = Job(
        id=uuid.uuid4().hex,
        source_uri=notice.uri,
        source_generation=notice.generation,
        output_uri=settings.output_uri,
        output_stem=_output_stem(notice.uri),
        model=model,
        language=choices.language or settings.language,
        task=choices.task or settings.task,
        formats=formats,
        callback_url=choices.callback_url or "",
        tenant=tenant,
        metadata=choices.metadata,
    )
    # Validate before creating: a transient failure here (an unreachable bucket) must leave
    # nothing behind, so the redelivery validates again instead of finding a job.
    reason, problem = _validate(notice, choices, ctx, model)
    job, created = ctx.jobs.create(job, key)
    if not created:
        log.info("duplicate of %s: job %s exists", key, job.id)
        return IngestResult(job=job, created=False)
    if problem and ctx.jobs.fail(job.id, problem, STAGE):
        metrics.JOBS.labels("failed", reason).inc()
        job = ctx.jobs.require(job.id)
    return IngestResult(job=job, created=True)
