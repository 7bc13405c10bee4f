"""Backpressure from the API to the pipeline, against real Redis and the local store: a full
line refuses API jobs with 429 queue_full and a Retry-After, never a bucket upload; a waiting
job shows its place and, once the drain rate is known, its estimated start; the OpenAI route
answers 202 + Location before the api's own limit, and rations waiting threads."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import pytest

from kscribe import events
from kscribe.api.router import Api, ApiRequest
from kscribe.api.routes import openai as openai_api
from kscribe.pipeline.handlers import on_object_finalized
from kscribe.tenancy.tenants import upload_prefix
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_VIDEO, create_through_api


@pytest.fixture
def api(ctx):
    ctx.settings = ctx.settings.replace(queue_max_jobs=2, tenant_max_active_jobs=0, api_local_sources=True)
    return Api(ctx)


def get(api, token, job_id):
    return api.handle(
        ApiRequest("GET", f"/api/v1/transcriptions/{job_id}", headers={"authorization": f"Bearer {token}"})
    )


def tenant_source(ctx, tenant: str) -> Path:
    source = Path(upload_prefix(ctx.settings, tenant)) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    return source


def test_a_full_line_refuses_api_jobs_with_retry_after_but_uploads_queue(api, ctx, sample_copy):
    token = ctx.api_keys.create("acme")[0]
    source = tenant_source(ctx, "acme")
    first, second = create_through_api(api, token, source), create_through_api(api, token, source)
    assert first.status == second.status == 202
    refused = create_through_api(api, token, source)
    assert refused.status == 429 and refused.body["error"]["code"] == "queue_full", refused.body
    assert 5 <= int(refused.headers["Retry-After"]) <= 600
    # A bucket upload is never refused: it joins the line behind them.
    data = {
        "bucket": str(sample_copy.parent),
        "name": sample_copy.name,
        "generation": str(sample_copy.stat().st_mtime_ns),
        "size": str(sample_copy.stat().st_size),
        "contentType": "video/mp4",
    }
    assert on_object_finalized(events.Event(events.OBJECT_FINALIZED, data, id="n1"), ctx)
    assert ctx.jobs.in_line() == 3


def test_a_waiting_job_shows_its_place_and_then_its_estimated_start(api, ctx):
    token = ctx.api_keys.create("acme")[0]
    source = tenant_source(ctx, "acme")
    ids = [create_through_api(api, token, source).body["id"] for _ in range(2)]
    view = get(api, token, ids[1]).body
    assert view["queue"] == {"place": 2, "ahead": 1, "estimated_wait_s": None, "estimated_start": None}
    # The first job finishes: it leaves the line, and the drain rate is measured from it.
    assert ctx.jobs.advance(ids[0], JobStatus.FAILED, error="x", failed_stage="extract")
    view = get(api, token, ids[1]).body
    assert view["queue"]["place"] == 1 and view["queue"]["estimated_wait_s"] > 0
    assert view["queue"]["estimated_start"] >= time.time()
    ctx.jobs.note_transcription_started(ids[1])
    assert get(api, token, ids[1]).body["queue"] is None


def _upload(api, token, routes):
    boundary = "b0undary"
    wav = SAMPLE_VIDEO.read_bytes()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="talk.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + wav
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = ApiRequest(
        "POST",
        "/v1/audio/transcriptions",
        headers={
            "authorization": f"Bearer {token}",
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(body)),
        },
    )
    published: list = []
    began = time.monotonic()
    response = routes.handle(request, lambda: iter([body]), published.extend)
    return response, time.monotonic() - began, published


def test_the_openai_route_answers_202_before_the_api_timeout(ctx):
    """The job never runs (its events go nowhere): the request waits no longer than
    KSCRIBE_API_TIMEOUT_SECONDS, however long KSCRIBE_OPENAI_WAIT_SECONDS is."""
    ctx.settings = ctx.settings.replace(api_timeout_s=1.0, openai_wait_s=120.0)
    routes = openai_api.OpenAiApi(Api(ctx))
    token = ctx.api_keys.create("acme")[0]
    response, took, published = _upload(Api(ctx), token, routes)
    assert response.status == 202, response.body
    assert response.headers["Location"] == f"/api/v1/transcriptions/{response.body['id']}"
    assert published and 0.5 <= took < 5.0, took


def test_waiting_is_rationed_per_process_and_per_tenant(ctx):
    limit = 4
    with contextlib.ExitStack() as held:
        granted = [held.enter_context(openai_api.WAITERS.slot(t, limit)) for t in ("a", "a", "a", "b", "c", "d")]
        # Half the slots for one tenant at most; the others' tenants still get theirs, up
        # to the process's limit.
        assert granted == [True, True, False, True, True, False]
        assert openai_api.WAITERS.waiting() == 4
    assert openai_api.WAITERS.waiting() == 0
    # With no slot free the route answers at once.
    ctx.settings = ctx.settings.replace(api_timeout_s=30.0, openai_wait_s=120.0, openai_max_waiters=0)
    token = ctx.api_keys.create("acme")[0]
    response, took, _ = _upload(Api(ctx), token, openai_api.OpenAiApi(Api(ctx)))
    assert response.status == 202 and took < 5.0, took


def test_the_wait_in_line_ends_when_the_first_chunk_reaches_a_worker(api, ctx):
    token = ctx.api_keys.create("acme")[0]
    job_id = create_through_api(api, token, tenant_source(ctx, "acme")).body["id"]
    assert ctx.jobs.require(job_id).transcription_started_at == 0
    ctx.jobs.note_transcription_started(job_id)
    started = ctx.jobs.require(job_id).transcription_started_at
    assert started >= ctx.jobs.require(job_id).created_at > 0
    ctx.jobs.note_transcription_started(job_id)  # a later chunk keeps the first time
    assert ctx.jobs.require(job_id).transcription_started_at == started
