"""The multi-process stack from the Procfile: nine processes exchanging real CloudEvents."""

from __future__ import annotations

import json

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from kscribe.transcript.quality import word_error_rate
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_TEXT, SAMPLE_VIDEO, wait_for
from tests.stack import CALLBACK_SECRET, Stack, metric_sum, stack_factory  # noqa: F401 - stack_factory is a fixture

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory):
    """One stack for the tests that need no settings of their own: each reads only its own
    job's record, outputs and metric increments."""
    started = Stack(tmp_path_factory.mktemp("shared-stack"))
    yield started
    started.stop()


def jobs_succeeded(stack: Stack) -> float:
    """publish's count of succeeded jobs."""
    text = requests.get(stack.url["publish"] + "/metrics", timeout=10).text
    return metric_sum(text, "kscribe_jobs_total", outcome="succeeded", reason="")


SUBMITTED = "gs://kscribe-input/meeting.mp4"  # where `kscribe submit` uploads the sample


def job_ids(stack: Stack) -> list[str]:
    return [k.split(":")[2] for k in stack.redis.scan_iter("kscribe:job:*") if k.count(":") == 2]


def test_submit_yields_every_format_in_the_output_bucket(shared_stack):
    stack = shared_stack
    done = stack.kscribe("submit", str(SAMPLE_VIDEO))
    assert done.returncode == 0, done.stderr + stack.log_path.read_text()[-3000:]
    assert "succeeded (100%)" in done.stdout
    bucket = stack.storage().bucket("kscribe-output")
    generation = stack.storage().bucket("kscribe-input").get_blob("meeting.mp4").generation
    owned = f"uploads/kscribe-input/meeting.mp4/{generation}"  # the upload's own location
    names = sorted(b.name for b in bucket.list_blobs(prefix="uploads/"))
    assert names == [f"{owned}/meeting.{x}" for x in ("json", "srt", "tsv", "txt", "vtt")]
    text = bucket.blob(f"{owned}/meeting.txt").download_as_text()
    assert word_error_rate(SAMPLE_TEXT, text) <= 0.08
    # A local copy of every format, and the output says where it is.
    local = stack.downloads / "meeting.txt"
    assert local.read_text() == text and f"txt: {local}" in done.stdout
    [job_id] = [j for j in job_ids(stack) if stack.redis.hget(f"kscribe:job:{j}", "source_uri") == SUBMITTED]
    status = stack.kscribe("status", job_id)
    assert "succeeded" in status.stdout and "3 chunk(s), 3 done" in status.stdout


def test_duplicated_reordered_delivery_gives_one_job_and_one_set_of_outputs(stack_factory):
    stack = stack_factory("--duplicate")
    first = stack.kscribe("submit", "--no-wait", str(SAMPLE_VIDEO))
    assert first.returncode == 0, first.stderr
    # GCS redelivers the notification too: send the same object.finalized again.
    key = first.stderr.split("submitted ", 1)[1].split(" as job")[0]
    generation = stack.storage().bucket("kscribe-input").get_blob("meeting.mp4").generation
    event = CloudEvent(
        {"type": "google.cloud.storage.object.v1.finalized", "source": "//storage", "id": "dup"},
        {
            "bucket": "kscribe-input",
            "name": "meeting.mp4",
            "generation": str(generation),
            "size": str(SAMPLE_VIDEO.stat().st_size),
            "contentType": "video/mp4",
        },
    )
    headers, body = to_binary(event)
    assert requests.post(stack.env["KSCRIBE_INGEST_URL"], data=body, headers=headers, timeout=30).ok
    assert key == "gs://kscribe-input/meeting.mp4"

    def finished():
        ids = job_ids(stack)
        return (
            ids
            if ids and all(stack.redis.hget(f"kscribe:job:{i}", "status") in ("succeeded", "failed") for i in ids)
            else None
        )

    ids = wait_for(finished, timeout_s=180, interval_s=0.5)
    assert len(ids) == 1, "one job for one object generation"
    job = stack.redis.hgetall(f"kscribe:job:{ids[0]}")
    assert job["status"] == JobStatus.SUCCEEDED.value, job.get("error")
    assert job["chunks_total"] == job["chunks_done"] == "3"
    assert float(job["transcribed_s"]) == pytest.approx(30.77, abs=0.1), "each chunk counted once"
    names = sorted(b.name for b in stack.storage().bucket("kscribe-output").list_blobs())
    assert names == [
        f"uploads/kscribe-input/meeting.mp4/{generation}/meeting.{x}" for x in ("json", "srt", "tsv", "txt", "vtt")
    ]

    def every_chunk_delivered_twice():
        # Copies are delayed at random, so a duplicate may still arrive after the job ended;
        # twice per extraction, and the duplicated job.created may have run extract twice.
        log = stack.log_path.read_text()
        done = all(
            log.count(f"delivered dev.kscribe.chunk.ready.v1 {ids[0]}/chunk/{i} to transcribe: 200") >= 2
            for i in range(3)
        )
        return log if done else None

    log = wait_for(every_chunk_delivered_twice, timeout_s=30)
    assert "Traceback" not in log, "no function crashed on a duplicate"


class CallbackReceiver:
    """A loopback endpoint that fails the first delivery with a 500, then accepts."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.received) == 1 else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kscribe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_api_job_with_a_signed_callback_and_metrics(shared_stack):
    from kscribe.delivery.signing import verify

    stack = shared_stack
    succeeded_before = jobs_succeeded(stack)
    stack.storage().bucket("kscribe-input").blob("tenants/acme/calls/meeting.mp4").upload_from_filename(
        str(SAMPLE_VIDEO)
    )
    created_key = stack.kscribe("keys", "create", "--tenant", "acme")
    assert created_key.returncode == 0, created_key.stderr
    secret = created_key.stderr.split("(shown once): ", 1)[1].split()[0]
    auth = {"Authorization": f"Bearer {created_key.stdout.strip()}"}
    receiver = CallbackReceiver()
    try:
        r = requests.post(
            stack.url["api"] + "/api/v1/transcriptions",
            headers=auth,
            timeout=10,
            json={
                "source": "gs://kscribe-input/tenants/acme/calls/meeting.mp4",
                "callback_url": receiver.url,
                "metadata": {"call": "7"},
            },
        )
        assert r.status_code == 202, r.text
        job_url = stack.url["api"] + r.json()["status_url"]

        def finished():
            job = requests.get(job_url, headers=auth, timeout=10).json()
            return job if job["status"] in ("succeeded", "failed") else None

        job = wait_for(finished, timeout_s=180, interval_s=0.5)
        assert job["status"] == "succeeded" and job["progress"] == 100, job
        assert set(job["timings"]) == {"extract", "transcribe", "publish"}
        txt = requests.get(job_url + "/transcript?format=txt", headers=auth, timeout=10)
        assert txt.status_code == 200 and txt.headers["Content-Type"].startswith("text/plain")
        assert word_error_rate(SAMPLE_TEXT, txt.text) <= 0.08
        srt = requests.get(job_url + "/transcript?format=srt", headers=auth, timeout=10).text
        assert srt.startswith("1\n00:00:")

        wait_for(lambda: len(receiver.received) >= 2, timeout_s=30)
        for headers, body in receiver.received:
            assert verify(secret, headers["Kscribe-Signature"], body), "signed with the tenant's secret"
            assert not verify(CALLBACK_SECRET, headers["Kscribe-Signature"], body), "not the installation's"
        payload = json.loads(receiver.received[-1][1])
        assert payload["type"] == "dev.kscribe.job.completed.v1" and payload["job_id"] == job["id"]
        assert payload["outputs"]["srt"] == f"gs://kscribe-output/tenants/acme/jobs/{job['id']}/meeting.srt"
        assert payload["metadata"] == {"call": "7"}

        def callback_recorded():
            state = requests.get(job_url, headers=auth, timeout=10).json()["callback"]
            return state if state["status"] else None

        callback = wait_for(callback_recorded, timeout_s=30)
        assert callback["status"] == "delivered" and callback["attempts"] == 2

        assert jobs_succeeded(stack) == succeeded_before + 1
        transcribed = requests.get(stack.url["transcribe"] + "/metrics", timeout=10).text
        assert (
            "kscribe_audio_transcribed_seconds_total" in transcribed
            and "kscribe_model_load_seconds_count" in transcribed
        )
        notified = requests.get(stack.url["notify"] + "/metrics", timeout=10).text
        assert 'kscribe_callback_attempts_total{outcome="error"} 1.0' in notified
        assert 'kscribe_callback_attempts_total{outcome="delivered"} 1.0' in notified
        log = stack.log_path.read_text()
        assert f'"job_id": "{job["id"]}"' in log, "JSON log lines carry the job id"
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_job_with_speakers_goes_through_the_diarize_function(stack_factory, tmp_path):
    """`kscribe submit --speakers` against a stack with diarization on: the diarize process
    stores every chunk's voice turns, publish labels the words, one label per voice."""
    from kscribe.asr import voices
    from tests import conversation

    if not (voices.available() and conversation.available()):
        pytest.skip(f"needs espeak-ng and the diarize extra ({voices.INSTALL_HINT})")
    a, b = conversation.VOICES[:2]
    audio, turns = conversation.conversation(
        [(a, conversation.LINES[0]), (b, conversation.LINES[1]), (a, conversation.LINES[2])], pause_s=0.4
    )
    conversation.write_wav(audio, tmp_path / "talk.wav")
    stack = stack_factory(env={"KSCRIBE_DIARIZE": "true", "KSCRIBE_CHUNK_SECONDS": "8"})
    done = stack.kscribe("submit", "--speakers", "--num-speakers", "2", str(tmp_path / "talk.wav"))
    assert done.returncode == 0, done.stderr + stack.log_path.read_text()[-3000:]
    assert "speakers: voices of" in done.stdout
    [job_id] = job_ids(stack)
    job = stack.kscribe("status", "--json", job_id)
    outputs = json.loads(job.stdout)["outputs"]
    bucket = stack.storage().bucket("kscribe-output")
    body = json.loads(bucket.blob(outputs["json"].split("/", 3)[3]).download_as_text())
    labels = [s["speaker"] for s in body["segments"]]
    assert labels[0] == "Speaker 1" and set(labels) == {"Speaker 1", "Speaker 2"}, labels

    # Every format carries the labels: the turns go A, B, A.
    def output(fmt):
        return bucket.blob(outputs[fmt].split("/", 3)[3]).download_as_text()

    srt, vtt, txt, tsv = output("srt"), output("vtt"), output("txt"), output("tsv")
    turns_in = [line for line in srt.splitlines() if line.startswith("[Speaker ")]
    assert [t.split("]")[0] for t in turns_in] == ["[Speaker 1", "[Speaker 2", "[Speaker 1"], srt
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    assert txt.count("[Speaker 2]") == 1 and txt.startswith("[Speaker 1]")
    assert tsv.splitlines()[0].split("\t")[-1] == "speaker"
    assert {row.split("\t")[-1] for row in tsv.splitlines()[1:]} == {"Speaker 1", "Speaker 2"}
