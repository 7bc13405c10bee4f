"""Per-job retention: the reconciler purges a job once its days are over — outputs, work
objects, the inputs kscribe wrote, every Redis key — and logs one audit line per purge."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from kscribe.api.input import bytes_reader
from kscribe.api.router import Api, ApiRequest
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import SUBSCRIBERS
from kscribe.pipeline.reconcile import reconcile
from kscribe.pipeline.retention import DAY_S, adopt
from kscribe.state import keys
from kscribe.tenancy.tenants import upload_prefix
from tests.conftest import SAMPLE_VIDEO


@pytest.fixture
def api(ctx):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, max_retention_days=10)
    return Api(ctx)


def create(api, token, **body):
    request = ApiRequest(
        "POST",
        "/api/v1/transcriptions",
        headers={"authorization": f"Bearer {token}"},
        read_body=bytes_reader(json.dumps(body).encode()),
    )
    return api.handle(request)


def finished_job(api, ctx, retention_days=None):
    token = ctx.api_keys.create("acme")[0]
    source = Path(upload_prefix(ctx.settings, "acme")) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    body = {"source": str(source)} | ({"retention_days": retention_days} if retention_days is not None else {})
    ctx.settings = ctx.settings.replace(api_local_sources=True)
    response = create(api, token, **body)
    assert response.status == 202, response.body
    bus = InProcessBus(ctx, SUBSCRIBERS, backoff_s=0)
    for event in response.events:
        bus.publish(event)
    bus.drain()
    job = ctx.jobs.require(response.body["id"])
    assert job.status.value == "succeeded"
    return job, source


def test_retention_days_are_bounded_by_the_operators_maximum(api, ctx):
    token = ctx.api_keys.create("acme")[0]
    for days in (0, 11, "3", True):
        response = create(api, token, source="gs://x/y.mp4", retention_days=days)
        assert response.status == 400 and response.body["error"]["code"] == "invalid_retention_days"


def test_the_reconciler_purges_a_job_once_its_retention_is_over(api, ctx, caplog):
    job, source = finished_job(api, ctx, retention_days=2)
    # What kscribe wrote as the job's input (an OpenAI-route upload) goes with it.
    owned = Path(upload_prefix(ctx.settings, "acme")) / "openai" / "u1"
    owned.mkdir(parents=True)
    (owned / "clip.mp4").write_bytes(b"x")
    adopt(ctx, job, 2, owned_input=str(owned))
    outputs = Path(job.output_uri)
    assert outputs.is_dir() and any(outputs.iterdir())

    assert reconcile(ctx, now=job.created_at + DAY_S).purged == []
    assert ctx.jobs.get(job.id) is not None
    with caplog.at_level(logging.INFO, logger="kscribe.pipeline.retention"):
        done = reconcile(ctx, now=job.created_at + 2 * DAY_S + 1)
    assert done.purged == [job.id]
    assert ctx.jobs.get(job.id) is None
    assert not outputs.exists() and not owned.exists()
    assert source.exists(), "the tenant's own upload is the tenant's, not kscribe's"
    assert [k for k in ctx.jobs.redis.scan_iter("*") if job.id in k] == []
    assert all(job.id not in ctx.jobs.redis.zrange(k, 0, -1) for k in ctx.jobs.redis.scan_iter("*", _type="zset"))
    assert job.id not in ctx.jobs.redis.hkeys(keys.purge_plans())
    [audit] = [r.audit for r in caplog.records if hasattr(r, "audit")]
    assert audit["action"] == "purge" and audit["job_id"] == job.id and audit["reason"] == "retention"
    assert reconcile(ctx, now=job.created_at + 3 * DAY_S).purged == [], "idempotent"


def test_a_job_without_retention_is_left_to_the_lifecycle_rules(api, ctx):
    job, _ = finished_job(api, ctx)
    assert reconcile(ctx, now=job.created_at + 365 * DAY_S).purged == []
