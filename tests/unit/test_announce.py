from kscribe import events
from kscribe.handlers import REANNOUNCE_AFTER_S, announce, on_chunk_ready
from kscribe.values import Job, JobStatus


def job(status=JobStatus.QUEUED, created_at=1000.0):
    return Job(id="j", source_uri="gs://b/v.mp4", source_generation="1", output_uri="gs://o", output_stem="v",
               model="tiny.en", language=None, task="transcribe", formats=("txt",), status=status,
               created_at=created_at, error="bad", failed_stage="ingest")


def test_a_new_job_is_announced():
    assert [e.type for e in announce(job(), created=True, now=1000.0)] == [events.JOB_CREATED]


def test_a_duplicate_stays_quiet_unless_the_job_has_sat_queued_too_long():
    assert announce(job(), created=False, now=1000.0 + REANNOUNCE_AFTER_S - 1) == []
    assert [e.id for e in announce(job(), created=False, now=1000.0 + REANNOUNCE_AFTER_S + 1)] == ["j/created"]
    assert announce(job(JobStatus.TRANSCRIBING), created=False, now=9999.0) == []


def test_a_job_that_failed_at_ingest_is_announced_as_failed_once():
    assert [e.type for e in announce(job(JobStatus.FAILED), created=True)] == [events.JOB_FAILED]
    assert announce(job(JobStatus.FAILED), created=False) == []


def test_an_event_without_a_job_is_acknowledged_not_retried():
    assert on_chunk_ready(events.Event(events.CHUNK_READY, {"index": 1}), ctx=None) == []
