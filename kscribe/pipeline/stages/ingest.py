"""Ingest: a storage notification (or an explicit request) becomes a validated job."""

from __future__ import annotations

import logging
import posixpath
import uuid
from dataclasses import dataclass

from kscribe.asr.models import check_language, check_model
from kscribe.choices import META_UPLOAD, JobChoices, check_metadata
from kscribe.context import Context
from kscribe.delivery.targets import check_url
from kscribe.errors import ConfigError, EventRejected, IdempotencyKeyReused, InputError
from kscribe.observability import metrics
from kscribe.pipeline import retention
from kscribe.pipeline.stages import layout
from kscribe.settings import MEDIA_EXTENSIONS, Settings
from kscribe.storage import is_within
from kscribe.storage.notices import META_ROLE
from kscribe.tenancy.tenants import Tenants, tenant_of_upload, unsafe_object_name
from kscribe.transcript.speakers import check_count
from kscribe.values import TASKS, Job, ObjectNotice

log = logging.getLogger(__name__)

DIARIZE_OFF = (
    "speaker labels are not enabled on this kscribe: the operator sets KSCRIBE_DIARIZE=true, "
    "installs kscribe[diarize] and runs the diarize function"
)

STAGE = "ingest"


@dataclass(frozen=True)
class IngestResult:
    job: Job | None
    created: bool
    skipped: str = ""


@dataclass(frozen=True)
class JobRequest:
    """Someone asked for this very file (the API, the CLI), rather than a storage
    notification announcing it: a bad file becomes a failed job the asker can see.

    ``key`` is the idempotency key; ``output_uri`` "" means the location the job owns
    (``output_stem`` "" the source's file name without extension);
    ``request_hash`` must match when ``key`` is reused; ``max_active`` is the tenant's quota;
    ``batch_id`` the batch the job belongs to; ``origin`` who asked (``values.ORIGINS``).
    """

    key: str
    tenant: str = ""
    output_uri: str = ""
    output_stem: str = ""
    request_hash: str = ""
    max_active: int = 0
    batch_id: str = ""
    origin: str = "api"


def _output_stem(uri: str) -> str:
    """``gs://in/talks/a.mp4`` → ``a``: the file name the outputs carry, inside a location
    of the job's own (so equal names never collide)."""
    name = uri.rsplit("/", 1)[-1]
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
    # Notifications name their object; only the input location's are jobs. (A forged one
    # naming another bucket, or a local directory, must not make kscribe read it.)
    if not is_within(notice.uri, settings.input_uri):
        raise EventRejected("outside_input", f"{notice.uri} is outside the input location {settings.input_uri}")
    if notice.uri.endswith("/"):
        return "a folder placeholder, not a file"
    if unsafe_object_name(notice.uri):
        raise EventRejected("unsafe_name", f"{notice.uri!r} has empty, '.' or '..' segments or control characters")
    family = notice.content_type.split("/", 1)[0].lower()
    if family not in ("audio", "video") and _extension(notice.uri) not in MEDIA_EXTENSIONS:
        return f"not media by name or type ({notice.content_type or 'no content type'})"
    if notice.size > settings.max_input_bytes:
        return f"{notice.size} bytes is over the {settings.max_input_bytes}-byte limit"
    return ""


@dataclass(frozen=True)
class CheckedChoices:
    """A job's choices after ``check_choices``, the one place they are checked against this
    deployment (its models, callback policy, diarization). ``refused`` names the choice a
    job cannot have (an API field name), ``problem`` says why as the user sees it and
    ``reason`` is the failure metric's label; a refused request is a 400 at the API, and a
    failed job from the CLI or a storage notification."""

    choices: JobChoices
    refused: str = ""
    problem: str = ""
    reason: str = ""


def check_choices(choices: JobChoices, settings: Settings, trusted: bool = False) -> CheckedChoices:
    """``choices`` checked once for this deployment; ``trusted`` choices (the operator's,
    from the CLI) may name model paths."""
    field = "request"  # the choice being checked: what a refusal names
    try:
        if (choices.task or settings.task) not in TASKS:
            raise InputError(f"task must be {' or '.join(TASKS)}, not {choices.task!r}")
        if choices.invalid:
            raise InputError(choices.invalid)
        field = "model"
        if choices.model:  # uploaders and tenants choose among installed models; paths are the operator's
            check_model(choices.model, allow_custom=trusted)
        field = "language"
        check_language(choices.language, choices.model or settings.model)
        field = "callback_url"
        if choices.callback_url:
            check_url(choices.callback_url, settings.callback_allow)
        field = "metadata"
        check_metadata(choices.metadata)
        field = "speakers"
        _check_speakers(choices, settings)
    except (InputError, ConfigError) as exc:
        counted = isinstance(exc, InputError) and field != "request"
        return CheckedChoices(choices, field, str(exc), metrics.failure_reason(exc) if counted else "bad_request")
    return CheckedChoices(choices)


def _validate(notice: ObjectNotice, checked: CheckedChoices, ctx: Context, model: str) -> tuple[str, str]:
    """Why this job cannot succeed, as (metric reason, message), or ("", "").
    Checked before any media work starts."""
    if notice.size == 0:
        return "empty", "the file is empty (0 bytes)"
    if notice.size > ctx.settings.max_input_bytes:
        return "too_large", f"the file is {notice.size} bytes, over the {ctx.settings.max_input_bytes}-byte limit"
    if checked.refused:
        return checked.reason, checked.problem
    try:
        if not checked.choices.model:
            check_model(model)  # the operator's model (a job's own is a choice, checked with them)
        ctx.blobs.ensure_writable(ctx.settings.output_uri)
    except (InputError, ConfigError) as exc:
        return metrics.failure_reason(exc) if isinstance(exc, InputError) else "bad_request", str(exc)
    return "", ""


SPEAKERS_WITH_SPLIT = "speakers and channels: split do not go together: a split job labels by channel"


def _check_speakers(choices: JobChoices, settings: Settings) -> None:
    counts = (choices.num_speakers, choices.min_speakers, choices.max_speakers)
    if not choices.speakers:
        if any(c is not None for c in counts):
            raise InputError("num_speakers, min_speakers and max_speakers need speakers: true")
        return
    if not settings.diarize:
        raise InputError(DIARIZE_OFF)
    if (choices.channels or settings.channels) == "split":
        # A split job labels words by channel; voices across overlapping channels would not add up.
        raise InputError(SPEAKERS_WITH_SPLIT)
    check_count(*counts)


def _output_uri(notice: ObjectNotice, ctx: Context, job_id: str, tenant: str, request: JobRequest | None) -> str:
    settings = ctx.settings
    if request is not None and request.output_uri:
        return request.output_uri
    if request is not None:
        return layout.api_output(settings.output_uri, tenant or "_", job_id)
    return layout.upload_output(settings.output_uri, settings.input_uri, notice.uri, notice.generation, tenant)


def ingest(
    notice: ObjectNotice, ctx: Context, checked: CheckedChoices | None = None, request: JobRequest | None = None
) -> IngestResult:
    """Create the job for ``notice`` once per ``request.key`` (default ``uri#generation``).

    ``checked`` are the choices its front door read and checked (``check_choices``); without
    them (a storage notification) they are read from the object's metadata and checked here.

    Objects that are not media (by name or type), too large, outside the input location or
    written by kscribe are skipped with a logged reason — unless ``request`` (someone asked
    for this very file), in which case a bad file becomes a failed job the asker can see. A
    repeated notification (or request with the same key) returns the existing job with
    ``created=False``; a request reusing a key with other content raises ``IdempotencyKeyReused``.
    """
    skipped = _skip_reason(notice, ctx, request is not None)  # raises EventRejected for foreign objects
    if skipped:
        log.info("skipping %s: %s", notice.uri, skipped)
        return IngestResult(job=None, created=False, skipped=skipped)

    key = request.key if request else notice.dedupe_key
    # Duplicates are the common case under at-least-once delivery: answer them with one
    # lookup, before validation does any I/O. (A job created between this lookup and the
    # create below is still caught by create's own check.)
    existing = ctx.jobs.job_id_for(key)
    if existing is not None:
        job = ctx.jobs.get(existing)
        if job is not None:
            log.info("duplicate of %s: job %s exists", key, job.id)
            return _same_request(job, request)

    if request is None:
        # What the notification says is a claim; what the bucket holds is the fact (size,
        # generation, and the metadata that picks the callback URL and its signing tenant).
        notice = _stored(notice, ctx)
        skipped = _skip_reason(notice, ctx, explicit=False)
        if skipped:
            log.info("skipping %s: %s", notice.uri, skipped)
            return IngestResult(job=None, created=False, skipped=skipped)
    settings = ctx.settings
    if checked is None:
        checked = check_choices(JobChoices.from_metadata(notice.metadata), settings)
    choices = checked.choices
    model = choices.model or settings.model
    tenant = request.tenant if request else _upload_tenant(notice, ctx)
    job_id = uuid.uuid4().hex
    job = Job(
        id=job_id,
        source_uri=notice.uri,
        source_generation=notice.generation,
        output_uri=_output_uri(notice, ctx, job_id, tenant, request),
        output_stem=(request and request.output_stem) or _output_stem(notice.uri),
        model=model,
        language=choices.language or settings.language,
        task=choices.task or settings.task,
        formats=choices.formats or settings.formats,
        callback_url=choices.callback_url or "",
        tenant=tenant,
        metadata=choices.metadata,
        prompt=choices.prompt or "",
        hotwords=choices.hotwords or "",
        replacements=choices.replacements,
        subtitles=choices.subtitles,
        channels=choices.channels or settings.channels,
        audio_track=choices.audio_track or settings.audio_track,
        multilingual=ctx.settings.multilingual if choices.multilingual is None else choices.multilingual,
        request_hash=request.request_hash if request else "",
        speakers=int(choices.speakers),
        num_speakers=choices.num_speakers or 0,
        min_speakers=choices.min_speakers or 0,
        max_speakers=choices.max_speakers or 0,
        batch_id=request.batch_id if request else "",
        origin=request.origin if request else ("upload" if notice.metadata.get(META_UPLOAD) else "bucket"),
    )
    # Validate before creating: a transient failure here (an unreachable bucket) must leave
    # nothing behind, so the redelivery validates again instead of finding a job.
    reason, problem = _validate(notice, checked, ctx, model)
    # A web page upload (its session's id in its metadata, its object in that session's
    # folder) is a tenant's job like an API one: it took a slot among the tenant's unfinished
    # jobs when its session was made, and its job takes that slot over; one whose slot lapsed
    # meets the tenant's quota here. Other bucket uploads are bounded by who may write the
    # bucket: they neither count against the quota nor can fill it (max_active -1).
    upload_id = "" if request else notice.metadata.get(META_UPLOAD, "")
    folder = retention.page_upload_folder(ctx, job, upload_id) if upload_id else ""
    max_active = request.max_active if request else -1
    if folder:
        held = ctx.jobs.upload_slot_held(tenant, upload_id)
        found = ctx.tenants.get(tenant)
        max_active = 0 if held or found is None else Tenants.max_active_jobs(settings, found)
    # The backlog's limit refuses tenants' jobs (the API's), never the operator's or uploads:
    # an upload queues, whatever the line's length.
    queue_max = ctx.settings.queue_max_jobs if request and request.tenant else 0
    job, created = ctx.jobs.create(job, key, max_active=max_active, queue_max=queue_max)
    if folder:
        ctx.jobs.release_upload_slot(tenant, upload_id)
    if not created:
        log.info("duplicate of %s: job %s exists", key, job.id)
        return _same_request(job, request)
    if request is None:
        # What a purge removes, remembered past the record: a page upload's job owns the
        # upload (its folder and its session).
        retention.adopt(ctx, job, owned_input=folder, upload_id=upload_id if folder else "")
    if problem and ctx.jobs.fail(job.id, problem, STAGE):
        metrics.JOBS.labels("failed", reason).inc()
        job = ctx.jobs.require(job.id)
    return IngestResult(job=job, created=True)


def _stored(notice: ObjectNotice, ctx: Context) -> ObjectNotice:
    info = ctx.blobs.stat(notice.uri)
    if info is None:
        raise EventRejected("no_object", f"{notice.uri} is not in the bucket (a forged or stale notification)")
    if info.generation != notice.generation:
        raise EventRejected(
            "stale",
            f"{notice.uri} is at generation {info.generation}, not {notice.generation} "
            "(that newer upload has a notification of its own)",
        )
    return ObjectNotice(
        uri=notice.uri,
        generation=info.generation,
        size=info.size,
        content_type=info.content_type,
        metadata=info.metadata,
    )


def _upload_tenant(notice: ObjectNotice, ctx: Context) -> str:
    """The tenant an upload belongs to: the owner of the ``tenants/<name>/`` prefix it is
    under, which must be a tenant (an upload cannot make one up)."""
    tenant = tenant_of_upload(ctx.settings, notice.uri)
    if tenant and ctx.tenants.get(tenant) is None:
        raise EventRejected("unknown_tenant", f"{notice.uri} is under the prefix of {tenant!r}, which is no tenant")
    return tenant


def _same_request(job: Job, request: JobRequest | None) -> IngestResult:
    if request is not None and request.request_hash and job.request_hash != request.request_hash:
        raise IdempotencyKeyReused(
            f"the key {request.key.rsplit(':', 1)[-1]!r} was used for job {job.id} with another request"
        )
    return IngestResult(job=job, created=False)
