"""The reconciler against real Redis, ffmpeg and the local store: every lost event of every
type is made good; slow work is left alone; a job that never moves fails with the reason."""

from __future__ import annotations

import time

import pytest

from kscribe import claims, events, keys, metrics
from kscribe.bus import InProcessBus
from kscribe.handlers import ROUTES, on_dead_letter
from kscribe.reconcile import reconcile
from kscribe.runner import LocalPipeline
from kscribe.stages.announce import record_announced
from kscribe.values import JobStatus

LEASE = 60.0


@pytest.fixture
def quick(ctx):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, redrive_after_s=LEASE, max_redrives=2)
    return ctx


def later(seconds: float = LEASE + 1) -> float:
    return time.time() + seconds


def deliver(ctx, event) -> list[events.Event]:
    """One delivery as a function makes it: handle, then (the broker took them) record."""
    out = ROUTES[event.type](event, ctx)
    record_announced(out, ctx)
    return out


def finish(ctx, driving) -> None:
    bus = InProcessBus(ctx, backoff_s=0)
    for event in driving:
        bus.publish(event)
    bus.drain()


def submitted(ctx, sample_copy) -> str:
    """A job whose job.created was lost on its way to the broker."""
    return LocalPipeline(ctx, backoff_s=0).submit(sample_copy).job.id


def test_nothing_is_redriven_inside_its_lease(quick, sample_copy):
    submitted(quick, sample_copy)
    assert reconcile(quick, now=later(LEASE / 2)).events == []


def test_a_lost_job_created_is_published_again(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    before = metrics.REDRIVES.labels("extract")._value.get()
    done = reconcile(quick, now=later())
    assert [e.id for e in done.events] == [f"{job_id}/created"] and done.redriven == {job_id: "extract"}
    assert metrics.REDRIVES.labels("extract")._value.get() == before + 1
    assert reconcile(quick, now=later()).events == [], "the re-drive restarts the lease"
    finish(quick, done.events)
    assert quick.jobs.require(job_id).status is JobStatus.SUCCEEDED


def test_only_the_lost_chunks_are_sent_again(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    chunks = deliver(quick, events.job_created(job_id))
    assert len(chunks) >= 3
    deliver(quick, chunks[0])  # the others were lost with a broker pod
    done = reconcile(quick, now=later())
    assert [e.id for e in done.events] == [c.id for c in chunks[1:]]
    finish(quick, done.events)
    assert quick.jobs.require(job_id).status is JobStatus.SUCCEEDED


def test_a_lost_job_transcribed_is_published_again(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    for chunk in deliver(quick, events.job_created(job_id)):
        ROUTES[events.CHUNK_READY](chunk, quick)  # the last one's worker died before publishing
    done = reconcile(quick, now=later())
    assert [e.id for e in done.events] == [f"{job_id}/transcribed"] and done.redriven == {job_id: "transcribe"}
    finish(quick, done.events)
    assert quick.jobs.require(job_id).status is JobStatus.SUCCEEDED


def test_a_worker_lease_keeps_slow_work_from_being_redriven(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    quick.jobs.extend_lease(job_id, 10 * LEASE)  # a long decode said it needs this long
    assert reconcile(quick, now=later()).events == []
    assert [e.id for e in reconcile(quick, now=later(10 * LEASE + 1)).events] == [f"{job_id}/created"]


def test_a_job_that_never_moves_fails_with_the_reason_after_the_last_redrive(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    now = later()
    for _ in range(2):  # max_redrives: the events go nowhere
        assert reconcile(quick, now=now).redriven == {job_id: "extract"}
        now += LEASE + 1
    done = reconcile(quick, now=now)
    assert done.failed == [job_id] and [e.type for e in done.events] == [events.JOB_FAILED]
    job = quick.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and job.error == "no progress after 2 re-drives at extract"


def test_the_local_runner_redrives_a_dropped_event(quick, sample_copy, monkeypatch):
    """A handler that returns nothing once (an event dropped in the process): `kscribe run`
    still finishes the job."""
    pipeline = LocalPipeline(quick, backoff_s=0)
    routes = pipeline.bus.routes
    (real,), dropped = routes[events.JOB_TRANSCRIBED], []

    def drop_first(event, ctx):
        if not dropped:
            dropped.append(event)
            return []
        return real(event, ctx)

    routes[events.JOB_TRANSCRIBED] = (drop_first,)
    job_id = pipeline.submit(sample_copy).job.id
    # The transcribed event was handled (and dropped), so the job sits at transcribing.
    pipeline.run()
    job = quick.jobs.require(job_id)
    # Re-driven once; the job then moved on, and progress restarts the count.
    assert dropped and job.status is JobStatus.SUCCEEDED and job.redrives == 0 and job.redriven_at > 0


def test_an_undelivered_callback_is_sent_again_until_delivered(quick, sample_copy):
    quick.settings = quick.settings.replace(callback_allow=("127.0.0.1",), callback_secret="s")
    pipeline = LocalPipeline(quick, backoff_s=0)
    pipeline.bus.routes.pop(events.JOB_COMPLETED)  # notify was down: nobody took job.completed
    job_id = pipeline.submit(sample_copy).job.id
    quick.jobs.update(job_id, callback_url="http://127.0.0.1:9/hook")
    pipeline.run()
    assert quick.jobs.require(job_id).status is JobStatus.SUCCEEDED
    assert reconcile(quick, now=later(LEASE / 2)).callbacks == [], "notify's own first send is not pre-empted"
    done = reconcile(quick, now=later())
    assert done.callbacks == [job_id] and [e.id for e in done.events] == [f"{job_id}/completed"]
    assert reconcile(quick, now=later()).callbacks == [], "not again before the next try is due"
    quick.jobs.update(job_id, callback_status="delivered")
    assert reconcile(quick, now=later(10 * LEASE)).callbacks == []
    assert quick.jobs.callbacks_due(later(10**6)) == []


def test_callbacks_are_not_resent_past_the_window(quick, sample_copy):
    quick.settings = quick.settings.replace(callback_resend_s=3600)
    pipeline = LocalPipeline(quick, backoff_s=0)
    pipeline.bus.routes.pop(events.JOB_COMPLETED)
    job_id = pipeline.submit(sample_copy).job.id
    quick.jobs.update(job_id, callback_url="http://127.0.0.1:9/hook")
    pipeline.run()
    assert reconcile(quick, now=later(7200)).callbacks == []
    job = quick.jobs.require(job_id)
    assert job.callback_status == "failed" and "gave up re-sending" in job.callback_error


def test_a_job_waiting_for_capacity_is_queued_not_redriven(quick, sample_copy):
    """Its chunks are not stored, but the transcribe workers are busy (their beat is recent):
    the job waits in line, however often the reconciler looks, and nothing is counted."""
    job_id = submitted(quick, sample_copy)
    chunks = deliver(quick, events.job_created(job_id))
    for i in range(3 * quick.settings.max_redrives):
        now = later((i + 1) * (LEASE + 1))
        quick.kv.set(keys.stage_beat("transcribe"), repr(now - LEASE / 2))  # a worker busy on other jobs
        done = reconcile(quick, now=now)
        assert done.events == [] and done.waiting == [job_id] and not done.failed
    assert quick.jobs.require(job_id).redrives == 0
    assert quick.kv.get(keys.jobs_lost()) == "0"
    # The workers stop (their beat is old): the chunks are lost, and only they are sent again.
    quick.kv.set(keys.stage_beat("transcribe"), repr(later(-LEASE)))
    done = reconcile(quick, now=later(100 * LEASE))
    assert [e.id for e in done.events] == [c.id for c in chunks]
    assert quick.kv.get(keys.jobs_lost()) == "1"


def test_a_chunk_held_by_a_worker_is_not_sent_again(quick, sample_copy):
    job_id = submitted(quick, sample_copy)
    chunks = deliver(quick, events.job_created(job_id))
    quick.kv.set(keys.stage_beat("transcribe"), "0")
    with claims.claim(quick.kv, claims.chunk_work(job_id, 0), 30, "test"):  # in flight, alive
        done = reconcile(quick, now=later())
    assert [e.id for e in done.events] == [c.id for c in chunks[1:]]


def test_progress_restarts_the_redrive_count(quick, sample_copy):
    """Two re-drives that found work lost, then a chunk is stored: the count starts again, so
    a job fails only when its work is lost max_redrives times in a row."""
    job_id = submitted(quick, sample_copy)
    chunks = deliver(quick, events.job_created(job_id))
    now = later()
    for _ in range(2):
        assert reconcile(quick, now=now).redriven == {job_id: "transcribe"}
        now += LEASE + 1
    assert quick.jobs.require(job_id).redrives == 2
    deliver(quick, chunks[0])
    assert quick.jobs.require(job_id).redrives == 0
    done = reconcile(quick, now=now + 2 * LEASE)
    assert done.redriven == {job_id: "transcribe"} and not done.failed


def test_a_chunk_dead_lettered_for_lack_of_capacity_is_queued_again(quick, sample_copy):
    """The GPU pool was busy through every retry (503 from the activator): the chunk goes
    back in line, and the job is not failed. A chunk its subscriber failed on (500) fails it."""
    job_id = submitted(quick, sample_copy)
    chunks = deliver(quick, events.job_created(job_id))
    busy = "HTTP 503 from http://transcribe.kscribe.svc.cluster.local: overload"
    again = on_dead_letter(chunks[1], quick, busy, "transcribe")
    assert [e.id for e in again] == [chunks[1].id] and again[0].data == chunks[1].data
    assert quick.jobs.require(job_id).status is JobStatus.TRANSCRIBING
    failed = on_dead_letter(chunks[1], quick, "HTTP 500 from http://transcribe.kscribe.svc.cluster.local", "transcribe")
    assert [e.type for e in failed] == [events.JOB_FAILED]
