"""Review of issue 22's Retry-After for queue_full: it was the time for one job to leave the
line at the measured drain rate, however far the line stood over KSCRIBE_QUEUE_MAX_JOBS. Bucket
uploads always queue, so the line can stand far above it: told to come back when one job has
left, every refused client came back dozens of times before a job of theirs could be taken.
It is now the time for the line to shrink below the limit."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

from kscribe.api.router import Api
from kscribe.tenancy.tenants import upload_prefix
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_VIDEO, create_through_api


def test_retry_after_is_when_the_line_is_below_its_limit_again(ctx):
    ctx.settings = ctx.settings.replace(api_local_sources=True, queue_max_jobs=2, tenant_max_active_jobs=0)
    api = Api(ctx)
    token = ctx.api_keys.create("acme")[0]
    source = Path(upload_prefix(ctx.settings, "acme")) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    first = create_through_api(api, token, source)
    assert first.status == 202, first.body
    template = ctx.jobs.require(first.body["id"])

    def bucket_job():
        job = dataclasses.replace(template, id=uuid.uuid4().hex)
        return ctx.jobs.create(job, f"bucket:{job.id}", max_active=-1)[0]

    # Six jobs ended lately (the drain rate, about one a minute); eleven wait (uploads queue).
    for _ in range(6):
        assert ctx.jobs.advance(bucket_job().id, JobStatus.FAILED, error="x", failed_stage="extract")
    for _ in range(10):
        bucket_job()
    waiting, per_minute = ctx.jobs.in_line(), ctx.jobs.finished_per_minute()
    assert waiting == 11 and 0.5 < per_minute < 1.5
    refused = create_through_api(api, token, source)
    assert refused.status == 429 and refused.body["error"]["code"] == "queue_full", refused.body
    # A job is taken once fewer than 2 wait: 10 must leave first.
    must_leave = waiting - ctx.settings.queue_max_jobs + 1
    needed_s = min(600, must_leave * 60 / per_minute)
    assert int(refused.headers["Retry-After"]) >= 0.9 * needed_s, (refused.headers, needed_s)
