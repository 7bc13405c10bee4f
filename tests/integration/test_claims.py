"""A duplicate delivery that arrives while the first still works runs neither ffmpeg nor the
model again (real Redis, real ffmpeg, threads; a worker killed while holding its claim)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from kscribe import events
from kscribe.errors import WorkClaimed
from kscribe.observability import metrics
from kscribe.pipeline.handlers import ROUTES
from kscribe.pipeline.runner import LocalPipeline
from kscribe.state import claims, keys
from kscribe.values import JobStatus
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.timeout(120)

# The module, not the function kscribe.pipeline.stages re-exports under the same name.
extract_stage = importlib.import_module("kscribe.pipeline.stages.extract")


def claimed_count(stage: str) -> float:
    return metrics.DUPLICATES_CLAIMED.labels(stage)._value.get()


def queued_job(ctx, sample_copy) -> str:
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    return LocalPipeline(ctx, backoff_s=0).submit(sample_copy).job.id


class Gate:
    """Holds the first caller of ``wrapped`` until ``open``; counts the calls."""

    def __init__(self, wrapped):
        self.wrapped, self.calls = wrapped, 0
        self.entered, self.opened = threading.Event(), threading.Event()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.entered.set()
        assert self.opened.wait(60)
        return self.wrapped(*args, **kwargs)


def test_a_duplicate_job_created_during_extraction_fails_retryably_and_then_finds_the_chunks(
    ctx, sample_copy, monkeypatch
):
    job_id = queued_job(ctx, sample_copy)
    gate = Gate(extract_stage.decode_audio)
    monkeypatch.setattr(extract_stage, "decode_audio", gate)
    before = claimed_count("extract")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ROUTES[events.JOB_CREATED], events.job_created(job_id), ctx)
        assert gate.entered.wait(60)
        with pytest.raises(WorkClaimed):  # a 5xx: the broker redelivers later
            ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
        gate.opened.set()
        chunk_events = first.result()
    assert gate.calls == 1, "ffmpeg ran once"
    assert claimed_count("extract") == before + 1
    assert ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx) == chunk_events, "the redelivery's answer"
    assert gate.calls == 1


def test_concurrent_duplicate_chunk_deliveries_run_the_model_once(ctx, sample_copy, fake_transcriber, monkeypatch):
    job_id = queued_job(ctx, sample_copy)
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    gate = Gate(fake_transcriber.transcribe)
    monkeypatch.setattr(fake_transcriber, "transcribe", gate)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ROUTES[events.CHUNK_READY], chunk_events[0], ctx)
        assert gate.entered.wait(60)
        with pytest.raises(WorkClaimed):
            ROUTES[events.CHUNK_READY](chunk_events[0], ctx)
        gate.opened.set()
        first.result()
    assert ROUTES[events.CHUNK_READY](chunk_events[0], ctx) == []
    assert gate.calls == 1, "the model ran once on the chunk"
    assert ctx.jobs.done_chunks(job_id) == {0}


def test_the_in_process_bus_waits_for_its_own_duplicate_instead_of_dead_lettering(
    ctx, sample_copy, fake_transcriber, monkeypatch
):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, parallel_chunks=2)
    pipeline = LocalPipeline(ctx, backoff_s=0, attempts=1)
    job_id = pipeline.submit(sample_copy).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    gate = Gate(fake_transcriber.transcribe)
    monkeypatch.setattr(fake_transcriber, "transcribe", gate)
    wait_released = claims.wait_released

    def duplicate_waits(kv, key, poll_s=0.05):
        gate.opened.set()  # the duplicate is waiting now: let the first delivery finish
        wait_released(kv, key, poll_s)

    monkeypatch.setattr(claims, "wait_released", duplicate_waits)
    gate.opened.clear()
    pipeline.bus.publish(chunk_events[0])
    pipeline.bus.publish(chunk_events[0])
    for event in chunk_events[1:]:
        pipeline.bus.publish(event)
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert gate.calls == len(chunk_events), "each chunk through the model once"


_KILLED_WORKER = """
import importlib, sys, time, redis
from kscribe import events
from kscribe.pipeline.handlers import ROUTES
from kscribe.runtime import wiring
from kscribe.settings import Settings

def hang(*args, **kwargs):
    print("claimed", flush=True)
    time.sleep(600)

importlib.import_module("kscribe.pipeline.stages.extract").probe = hang
settings = Settings.from_env({"KSCRIBE_DATA_DIR": sys.argv[2], "KSCRIBE_CLAIM_LEASE_SECONDS": "1"})
client = redis.Redis(unix_socket_path=sys.argv[1], decode_responses=True)
ROUTES[events.JOB_CREATED](events.job_created(sys.argv[3]), wiring.create_context(settings, client=client))
"""


def test_a_worker_killed_holding_the_claim_leaves_the_work_to_a_retry_once_its_lease_ends(
    ctx, sample_copy, redis_server, tmp_path
):
    job_id = queued_job(ctx, sample_copy)
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER, redis_server.socket_file, str(tmp_path / "data"), job_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert worker.stdout.readline().strip() == "claimed"
        finally:
            worker.kill()  # SIGKILL: no release, no cleanup
    work = claims.extract_work(job_id)
    assert ctx.claims.held(work), "the dead worker's claim outlives it, for its lease"
    with pytest.raises(WorkClaimed):
        ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    wait_for(lambda: not ctx.claims.held(work), timeout_s=10, interval_s=0.05)
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    assert chunk_events and ctx.jobs.require(job_id).status is JobStatus.TRANSCRIBING


def test_a_duplicate_dead_lettered_while_the_work_is_claimed_does_not_fail_the_job(ctx, sample_copy):
    from kscribe.pipeline.handlers import on_dead_letter

    job_id = queued_job(ctx, sample_copy)
    ctx.jobs.advance(job_id, JobStatus.EXTRACTING)
    with ctx.claims.claim(claims.extract_work(job_id), 60, "extract"):
        assert on_dead_letter(events.job_created(job_id), ctx, "500 from extract") == []
    assert ctx.jobs.require(job_id).status is JobStatus.EXTRACTING


class CountingKV:
    """Redis, counting GETs; ``before_get`` runs first in the caller's thread."""

    def __init__(self, redis):
        self.redis, self.gets = redis, 0
        self.before_get = lambda: None

    def get(self, key):
        self.before_get()
        self.gets += 1
        return self.redis.get(key)

    def __getattr__(self, name):
        return getattr(self.redis, name)


def test_a_waiter_polls_when_its_holder_lets_go_and_another_delivery_here_claims_at_once(redis_client, redis_server):
    # The chunks of a job wait for the one detecting its language; when that detection fails
    # (a storage hiccup), a waiter takes the work over. The others must keep polling at their
    # pace while it detects, not spin on Redis (and the CPU it needs) until it is done.
    kv = CountingKV(redis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True))
    work = claims.language_work("job")
    key = keys.claim(work)
    taken_over = []
    first = claims.claim(kv, work, 60, "transcribe")
    waiter = threading.Thread(target=claims.wait_released, args=(kv, key, 0.01), daemon=True)
    waiter.start()
    wait_for(lambda: kv.gets >= 1)

    def take_over():
        if not taken_over and redis_client.get(key) is None:
            taken_over.append(claims.claim(redis_client, work, 60, "transcribe"))

    kv.before_get = take_over
    first.release()
    wait_for(lambda: taken_over)
    gets, started = kv.gets, time.monotonic()
    wait_for(lambda: kv.gets >= gets + 40, timeout_s=20, interval_s=0.01)
    elapsed = time.monotonic() - started
    taken_over[0].release()
    waiter.join(10)
    assert not waiter.is_alive()
    assert elapsed >= 40 * 0.01 / 2, f"40 looks at the claim in {elapsed:.3f} s: a spin, not a poll"
