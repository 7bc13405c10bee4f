"""Ingest against real Redis and a real input location: what becomes a job, what is
skipped, what fails, and what a notification may not make kscribe believe."""

import os
from pathlib import Path

import pytest

from kscribe.errors import EventRejected
from kscribe.pipeline.stages.ingest import JobRequest, ingest
from kscribe.storage import LocalStore
from kscribe.values import JobStatus, ObjectNotice

INBOX: Path  # the input location of the test's settings, set by the fixture below


@pytest.fixture(autouse=True)
def _inbox(ctx, tmp_path):
    global INBOX
    INBOX = tmp_path / "inbox"
    INBOX.mkdir()
    ctx.settings = ctx.settings.replace(input_uri=str(INBOX))


def notice(name="talk.mp4", size=1000, content_type="video/mp4", generation=None, **metadata):
    """An upload of ``name`` (``size`` bytes, sparse) with custom metadata, and its notification."""
    path = INBOX / name
    if not name.endswith("/"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(size)
        for key, value in metadata.items():
            os.setxattr(path, "user." + key, value.encode())
    info = LocalStore().stat(str(path)) if path.is_file() else None
    return ObjectNotice(
        uri=str(path) + ("/" if name.endswith("/") else ""),
        generation=generation or (info.generation if info else "1"),
        size=size,
        content_type=content_type,
        metadata=metadata,
    )


def test_a_video_upload_becomes_a_queued_job_once(ctx):
    upload = notice(**{"kscribe-language": "en", "kscribe-formats": "srt", "team": "news"})
    first = ingest(upload, ctx)
    again = ingest(upload, ctx)
    assert first.created and not again.created and again.job.id == first.job.id
    job = first.job
    assert job.status is JobStatus.QUEUED and job.language == "en" and job.formats == ("srt",)
    assert job.output_stem == "talk" and job.metadata == {"team": "news"} and job.model == "tiny.en"
    os.utime(INBOX / "talk.mp4", ns=(5, 5))
    assert ingest(notice(), ctx).created, "a re-upload is a new generation"


@pytest.mark.parametrize(
    "n, reason",
    [
        (lambda: notice("notes.txt", content_type="text/plain"), "not media by name or type"),
        (lambda: notice("folder/", content_type=""), "folder placeholder"),
        (lambda: notice(**{"kscribe-role": "output"}), "written by kscribe"),
        (lambda: notice(size=10**12), "over the"),
    ],
)
def test_objects_that_are_not_jobs_are_skipped_with_a_reason(ctx, n, reason):
    result = ingest(n(), ctx)
    assert result.job is None and reason in result.skipped


def test_kscribe_outputs_are_skipped_by_location(ctx):
    n = ObjectNotice(uri=ctx.settings.output_uri + "/talk.srt", generation="1", size=10, content_type="video/mp4")
    assert ingest(n, ctx).skipped == "written by kscribe"


def test_media_recognised_by_extension_without_content_type(ctx):
    assert ingest(notice("a.MKV", content_type="application/octet-stream"), ctx).created


@pytest.mark.parametrize(
    "metadata, size, message",
    [
        ({}, 0, "the file is empty (0 bytes)"),
        ({"kscribe-model": "huge-v9"}, 1000, "model 'huge-v9' is not available here"),
        ({"kscribe-model": "/etc"}, 1000, "is not available here"),
        ({"kscribe-formats": "srt,docx"}, 1000, "unknown format(s) docx"),
        ({"kscribe-language": "xx"}, 1000, "language 'xx' is not a language code Whisper speaks"),
        ({"kscribe-language": "de"}, 1000, "language 'de': the model tiny.en speaks only en"),
        ({f"k{i}": "v" for i in range(40)}, 1000, "metadata: at most 32 keys"),
    ],
)
def test_jobs_that_cannot_succeed_fail_at_once_with_the_reason(ctx, metadata, size, message):
    result = ingest(notice(size=size, **metadata), ctx)
    assert result.created and result.job.status is JobStatus.FAILED
    assert message in result.job.error and result.job.failed_stage == "ingest"


def test_unwritable_output_fails_the_job(ctx, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ctx.settings = ctx.settings.replace(output_uri=str(blocker / "out"))
    job = ingest(notice(), ctx).job
    assert job.status is JobStatus.FAILED and "cannot write to" in job.error


def test_explicit_requests_are_not_filtered_by_name(ctx):
    result = ingest(notice("notes.txt", content_type="text/plain"), ctx, request=JobRequest(key="k1"))
    assert result.created and result.job.status is JobStatus.QUEUED


@pytest.mark.parametrize(
    "uri",
    [
        "gs://elsewhere/talk.mp4",
        "/etc/talk.mp4",
        "{inbox}es/talk.mp4",
        "{inbox}/a/../talk.mp4",
        "{inbox}//talk.mp4",
        "{inbox}/a\x00.mp4",
        "{inbox}/\u202egnp.mp4",
    ],
)
def test_notifications_outside_the_input_location_are_rejected(ctx, uri):
    uri = uri.format(inbox=INBOX)
    with pytest.raises(EventRejected):
        ingest(ObjectNotice(uri=uri, generation="1", size=10, content_type="video/mp4"), ctx)
    assert ctx.jobs.job_id_for(f"{uri}#1") is None


def test_a_notification_is_checked_against_the_bucket(ctx):
    """Its size, generation and metadata are claims: what the bucket holds decides."""
    with pytest.raises(EventRejected, match="not in the bucket"):
        ingest(ObjectNotice(uri=str(INBOX / "never-uploaded.mp4"), generation="1", size=10), ctx)
    real = notice("big.mp4", size=10**12)
    lying = ObjectNotice(uri=real.uri, generation=real.generation, size=10, content_type="video/mp4")
    assert "over the" in ingest(lying, ctx).skipped, "the stored size, not the claimed one"
    with pytest.raises(EventRejected, match="generation"):
        ingest(ObjectNotice(uri=real.uri, generation="7", size=10, content_type="video/mp4"), ctx)
    signed = notice("hook.mp4", **{"kscribe-callback-url": "https://example.com/stored"})
    forged = ObjectNotice(
        uri=signed.uri,
        generation=signed.generation,
        size=1000,
        content_type="video/mp4",
        metadata={"kscribe-callback-url": "https://attacker.example/x", "approved": "yes"},
    )
    job = ingest(forged, ctx).job
    assert job.callback_url == "https://example.com/stored" and "approved" not in job.metadata


def test_upload_outputs_are_owned_by_the_object_generation_and_tenant(ctx):
    ctx.tenants.ensure("acme")
    plain = ingest(notice("talks/a.mp4"), ctx).job
    other_ext = ingest(notice("talks/a.mkv"), ctx).job
    tenant = ingest(notice("tenants/acme/talks/a.mp4"), ctx).job
    assert plain.output_uri.endswith(f"/uploads/talks/a.mp4/{plain.source_generation}") and plain.output_stem == "a"
    assert other_ext.output_uri.endswith(f"/uploads/talks/a.mkv/{other_ext.source_generation}")
    assert tenant.tenant == "acme"
    assert tenant.output_uri.endswith(f"/tenants/acme/uploads/talks/a.mp4/{tenant.source_generation}")
    with pytest.raises(EventRejected, match="no tenant"):
        ingest(notice("tenants/nobody/a.mp4"), ctx)


def test_uploads_neither_count_against_nor_fill_the_api_quota(ctx):
    ctx.tenants.ensure("acme")
    for i in range(4):
        assert ingest(notice(f"tenants/acme/{i}.mp4"), ctx).created
    assert ctx.jobs.tenant_active_count("acme") == 0
