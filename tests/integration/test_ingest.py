"""Ingest against real Redis: what becomes a job, what is skipped, what fails."""

import pytest

from kscribe.errors import EventRejected
from kscribe.notices import JobChoices
from kscribe.stages import JobRequest, ingest
from kscribe.values import JobStatus, ObjectNotice


def notice(uri="gs://inbox/talk.mp4", size=1000, content_type="video/mp4", generation="1", **metadata):
    return ObjectNotice(uri=uri, generation=generation, size=size, content_type=content_type, metadata=metadata)


@pytest.fixture(autouse=True)
def _inbox(ctx):
    ctx.settings = ctx.settings.replace(input_uri="gs://inbox")


def test_a_video_upload_becomes_a_queued_job_once(ctx):
    first = ingest(notice(**{"kscribe-language": "de", "kscribe-formats": "srt", "team": "news"}), ctx)
    again = ingest(notice(), ctx)
    assert first.created and not again.created and again.job.id == first.job.id
    job = first.job
    assert job.status is JobStatus.QUEUED and job.language == "de" and job.formats == ("srt",)
    assert job.output_stem == "talk" and job.metadata == {"team": "news"} and job.model == "tiny.en"
    assert ingest(notice(generation="2"), ctx).created, "a re-upload is a new generation"


@pytest.mark.parametrize("n, reason", [
    (notice("gs://inbox/notes.txt", content_type="text/plain"), "not media by name or type"),
    (notice("gs://inbox/folder/", content_type=""), "folder placeholder"),
    (notice(**{"kscribe-role": "output"}), "written by kscribe"),
    (notice(size=10**12), "over the"),
])
def test_objects_that_are_not_jobs_are_skipped_with_a_reason(ctx, n, reason):
    result = ingest(n, ctx)
    assert result.job is None and reason in result.skipped


def test_kscribe_outputs_are_skipped_by_location(ctx):
    result = ingest(notice(uri=ctx.settings.output_uri + "/talk.srt", content_type="video/mp4"), ctx)
    assert result.skipped == "written by kscribe"


def test_media_recognised_by_extension_without_content_type(ctx):
    assert ingest(notice("gs://inbox/a.MKV", content_type="application/octet-stream"), ctx).created


@pytest.mark.parametrize("n, choices, message", [
    (notice(size=0), None, "the file is empty (0 bytes)"),
    (notice(), JobChoices(model="huge-v9"), "model 'huge-v9' is not available here"),
    (notice(), JobChoices(formats="srt,docx"), "unknown format(s) docx"),
])
def test_jobs_that_cannot_succeed_fail_at_once_with_the_reason(ctx, n, choices, message):
    result = ingest(n, ctx, choices)
    assert result.created and result.job.status is JobStatus.FAILED
    assert message in result.job.error and result.job.failed_stage == "ingest"


def test_unwritable_output_fails_the_job(ctx, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ctx.settings = ctx.settings.replace(output_uri=str(blocker / "out"))
    job = ingest(notice(), ctx).job
    assert job.status is JobStatus.FAILED and "cannot write to" in job.error


def test_explicit_requests_are_not_filtered_by_name(ctx):
    result = ingest(notice("gs://inbox/notes.txt", content_type="text/plain"), ctx, request=JobRequest(key="k1"))
    assert result.created and result.job.status is JobStatus.QUEUED


@pytest.mark.parametrize("uri", ["gs://elsewhere/talk.mp4", "/etc/talk.mp4", "gs://inboxes/talk.mp4",
                                 "gs://inbox/a/../talk.mp4", "gs://inbox//talk.mp4", "gs://inbox/a\x00.mp4"])
def test_notifications_outside_the_input_location_are_rejected(ctx, uri):
    with pytest.raises(EventRejected):
        ingest(notice(uri), ctx)
    assert ctx.jobs.job_id_for(f"{uri}#1") is None


def test_upload_outputs_are_owned_by_the_object_generation_and_tenant(ctx):
    plain = ingest(notice("gs://inbox/talks/a.mp4", generation="17"), ctx).job
    other_ext = ingest(notice("gs://inbox/talks/a.mkv", generation="17"), ctx).job
    tenant = ingest(notice("gs://inbox/tenants/acme/talks/a.mp4", generation="17"), ctx).job
    assert plain.output_uri.endswith("/uploads/inbox/talks/a.mp4/17") and plain.output_stem == "a"
    assert other_ext.output_uri.endswith("/uploads/inbox/talks/a.mkv/17")
    assert tenant.tenant == "acme" and tenant.output_uri.endswith("/tenants/acme/uploads/talks/a.mp4/17")
