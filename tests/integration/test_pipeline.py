"""The whole pipeline through the in-process bus: real Redis and ffmpeg, fake transcriber."""

import json
import os
from pathlib import Path

from kscribe import events
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import ROUTES
from kscribe.pipeline.runner import LocalPipeline
from kscribe.pipeline.stages.announce import record_announced
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_INFO


def run_file(ctx, path: Path, **pipeline_args):
    pipeline = LocalPipeline(ctx, backoff_s=0, **pipeline_args)
    seen = []
    pipeline.bus.observers.append(seen.append)
    job = pipeline.submit(path).job
    pipeline.run()
    return ctx.jobs.require(job.id), seen


def test_a_video_is_cut_into_chunks_and_published_on_one_timeline(ctx, sample_copy):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    job, seen = run_file(ctx, sample_copy)
    assert job.status is JobStatus.SUCCEEDED and job.progress == 100
    assert job.chunks_total == job.chunks_done >= 3
    assert abs(job.duration_s - SAMPLE_INFO["duration_s"]) < 0.1
    assert set(job.timings) == {"extract", "transcribe", "publish"}
    assert set(job.outputs) == {"json", "srt", "vtt", "txt", "tsv"}
    assert all(Path(uri).is_file() for uri in job.outputs.values())
    types = [e.type for e in seen]
    assert types.count(events.CHUNK_READY) == job.chunks_total
    assert types.count(events.JOB_TRANSCRIBED) == 1 and types[-1] == events.JOB_COMPLETED
    body = json.loads(Path(job.outputs["json"]).read_text())
    starts = [s["start"] for s in body["segments"]]
    assert starts == sorted(starts) and starts[-1] > 20, "chunk times are shifted onto the video's timeline"
    assert not any(Path(ctx.settings.work_uri).iterdir()), "work files are removed after success"


def test_duplicate_and_out_of_order_events_finish_the_job_once(ctx, sample_copy, fake_transcriber):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    # Run extract alone, then deliver every chunk twice, newest first, and job.created again.
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    assert ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx) == chunk_events, "extract is idempotent"
    produced = []
    for event in list(reversed(chunk_events)) * 2:
        out = ROUTES[events.CHUNK_READY](event, ctx)
        record_announced(out, ctx)  # as a function does once the broker took them
        produced += out
    assert [e.type for e in produced] == [events.JOB_TRANSCRIBED]
    assert fake_transcriber.calls == len(chunk_events), "a redelivered chunk reuses its stored transcript"
    completed = ROUTES[events.JOB_TRANSCRIBED](produced[0], ctx) + ROUTES[events.JOB_TRANSCRIBED](produced[0], ctx)
    assert [e.id for e in completed] == [f"{job_id}/completed"] * 2, "a redelivery repeats the same event"
    assert ROUTES[events.CHUNK_READY](chunk_events[0], ctx) == [], "a chunk after completion does nothing"
    assert ctx.jobs.require(job_id).status is JobStatus.SUCCEEDED


def test_an_announcement_that_never_went_out_is_made_by_the_redelivery(ctx, sample_copy):
    """A worker killed after recording the last chunk, before publishing job.transcribed:
    the chunk's redelivery finds everything stored and announces the job then."""
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    job_id = LocalPipeline(ctx, backoff_s=0).submit(sample_copy).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    for event in chunk_events:
        ROUTES[events.CHUNK_READY](event, ctx)  # the last one's job.transcribed is lost
    again = ROUTES[events.CHUNK_READY](chunk_events[0], ctx)
    assert [e.id for e in again] == [f"{job_id}/transcribed"]
    record_announced(again, ctx)
    assert ROUTES[events.CHUNK_READY](chunk_events[0], ctx) == [], "once it went out, quiet"


def test_a_failing_transcriber_is_retried_then_the_job_fails(ctx, sample_copy, fake_transcriber):
    fake_transcriber.fail_with = RuntimeError("CUDA out of memory")
    job, seen = run_file(ctx, sample_copy, attempts=3)
    assert fake_transcriber.calls == 3
    assert job.status is JobStatus.FAILED and job.failed_stage == "transcribe"
    assert job.error == "the transcribe step kept failing and was given up after its retries"
    assert "CUDA" not in job.error, "the cause is the operator's (logged), not the user's"
    assert seen[-1].type == events.JOB_FAILED


def test_bad_media_fails_the_job_without_retrying(ctx, tmp_path, fake_transcriber):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00" * 4096)
    job, seen = run_file(ctx, bogus)
    assert job.status is JobStatus.FAILED and job.failed_stage == "extract"
    assert "not a readable audio or video file" in job.error
    assert [e.type for e in seen] == [events.JOB_CREATED, events.JOB_FAILED]
    assert fake_transcriber.calls == 0


def test_a_source_replaced_after_the_notification_fails_that_job(ctx, sample_copy):
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    os.utime(sample_copy, ns=(1, 1))  # rewritten: a new generation of the same name
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and "replaced by a newer upload" in job.error


def test_unknown_event_types_are_dropped(ctx):
    handled = []
    bus = InProcessBus(ctx, {events.JOB_CREATED: (lambda e, c: handled.append(e) or [],)})
    bus.publish(events.Event("com.example.other", {}))
    bus.publish(events.job_created("j"))
    bus.drain()
    assert [e.type for e in handled] == [events.JOB_CREATED]


def test_a_duplicate_that_finds_the_work_objects_gone_ends_quietly(ctx, sample_copy, monkeypatch):
    """Two deliveries of job.transcribed overlap: the first publishes and removes the work
    objects while the second, past its own status check, is reading them."""
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    for event in chunk_events:
        ROUTES[events.CHUNK_READY](event, ctx)
    real_read = ctx.blobs.read_bytes
    calls = []

    def read_then_finish(uri):
        # The first read of the late duplicate: the other publish completes right now.
        if not calls:
            calls.append(uri)
            monkeypatch.setattr(ctx.blobs, "read_bytes", real_read)
            assert ROUTES[events.JOB_TRANSCRIBED](events.job_transcribed(job_id), ctx)
        return real_read(uri)

    monkeypatch.setattr(ctx.blobs, "read_bytes", read_then_finish)
    assert ROUTES[events.JOB_TRANSCRIBED](events.job_transcribed(job_id), ctx) == []
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.SUCCEEDED and not job.error, "the finished job is left as it is"
