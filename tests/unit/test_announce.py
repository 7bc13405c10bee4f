import dataclasses

from kscribe import events
from kscribe.pipeline.handlers import on_chunk_ready
from kscribe.pipeline.stages.announce import announce
from kscribe.values import Job, JobStatus


def job(status=JobStatus.QUEUED, announced=()):
    return Job(
        id="j",
        source_uri="gs://b/v.mp4",
        source_generation="1",
        output_uri="gs://o",
        output_stem="v",
        model="tiny.en",
        language=None,
        task="transcribe",
        formats=("txt",),
        status=status,
        created_at=1000.0,
        error="bad",
        failed_stage="ingest",
        announced=frozenset(announced),
    )


def test_a_queued_job_is_announced_until_the_announcement_went_out():
    assert [e.id for e in announce(job())] == ["j/created"]
    # A redelivery a second or a day later: still not announced, so announced now.
    assert [e.id for e in announce(dataclasses.replace(job(), created_at=0.0))] == ["j/created"]
    assert announce(job(announced={"created"})) == []
    assert announce(job(JobStatus.TRANSCRIBING)) == []


def test_a_job_that_failed_at_ingest_is_announced_as_failed_until_it_was():
    assert [e.type for e in announce(job(JobStatus.FAILED))] == [events.JOB_FAILED]
    assert announce(job(JobStatus.FAILED, announced={"failed"})) == []


def test_an_event_without_a_job_is_acknowledged_not_retried():
    assert on_chunk_ready(events.Event(events.CHUNK_READY, {"index": 1}), ctx=None) == []


def test_a_failure_has_the_same_names_in_the_record_the_event_the_callback_and_the_api():
    from kscribe.api.views import job_view
    from kscribe.pipeline.stages.notify import callback_payload

    failed = job(JobStatus.FAILED)
    (event,) = announce(failed)
    payload = callback_payload(events.JOB_FAILED, failed)
    view = job_view(failed)
    names = {"failed_stage": "ingest", "error": "bad"}
    assert {k: event.data[k] for k in names} == names
    assert {k: payload[k] for k in names} == names
    assert (view["failed_stage"], view["error"]["message"]) == ("ingest", "bad")
