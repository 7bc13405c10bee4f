"""Findings: the functions trusted whatever CloudEvent reached them.
- A forged chunk.ready could name any object in ``uri`` (another tenant's upload, another job's
  work objects) and its words became the job's transcript.
- A forged job.transcribed for a job still transcribing failed it (or published it half done).
- Events for job ids that do not exist were processed, silently, with nothing counted.
- A forged object.finalized naming a bucket such as ``/etc`` or another bucket made a job.
- A forged dead letter failed a job that was not at the dead-lettered event's step.
- The stack's processes listened on every interface, so anyone on the network could send these.
Leftovers: cancelling a job left its work objects (audio chunks, transcripts) in the work bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from kscribe.transcript.quality import word_error_rate
from tests.conftest import SAMPLE_TEXT, wait_for
from tests.security.conftest import INPUT
from tests.stack import PORTS, metric_sum

CHUNK_READY = "dev.kscribe.chunk.ready.v1"
JOB_CREATED = "dev.kscribe.job.created.v1"
JOB_TRANSCRIBED = "dev.kscribe.job.transcribed.v1"

pytestmark = pytest.mark.model


def test_a_forged_chunk_ready_cannot_put_another_objects_words_in_a_transcript(env):
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/meeting.mp4")
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # Sent before extract has stored the chunks: the forged chunk 0 is handled first.
    env.post_event(
        "transcribe",
        CHUNK_READY,
        {
            "job_id": job_id,
            "index": 0,
            "count": 3,
            "uri": f"{INPUT}/tenants/globex/secret.wav",
            "start_s": 0.0,
            "duration_s": 10.0,
        },
    )
    job = env.wait_finished(env.acme, job_id)
    assert job["status"] == "succeeded", job
    txt = requests.get(
        f"{env.api}/api/v1/transcriptions/{job_id}/transcript?format=txt", headers=env.acme.auth, timeout=30
    ).text
    assert word_error_rate(SAMPLE_TEXT, txt) <= 0.08, f"globex's words in acme's transcript:\n{txt}"


def test_a_forged_job_transcribed_does_not_end_a_job_still_transcribing(env, initech, transcribing_job):
    env.post_event("publish", JOB_TRANSCRIBED, {"job_id": transcribing_job})
    job = env.job(initech, transcribing_job).json()
    assert job["status"] != "failed", job["error"]
    if job["status"] == "succeeded":  # only if every chunk really was done meanwhile
        assert job["chunks"]["done"] == job["chunks"]["total"], job


def test_a_forged_dead_letter_for_an_earlier_step_does_not_fail_a_transcribing_job(env, initech, transcribing_job):
    env.post_event(
        "dead-letter",
        JOB_CREATED,
        {"job_id": transcribing_job},
        knativeerrorcode="500",
        knativeerrordest="http://extract",
    )
    job = env.job(initech, transcribing_job).json()
    assert job["status"] != "failed", job["error"]


def test_cancelling_removes_the_jobs_work_objects(env, initech):
    r = env.create(initech, source=f"{INPUT}/tenants/initech/meeting.mp4")
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    wait_for(lambda: env.names("kscribe-work", f"{job_id}/chunks"), timeout_s=120, interval_s=0.02)
    r = env.cancel(initech, job_id)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    wait_for(lambda: not env.names("kscribe-work", f"{job_id}/"), timeout_s=30, interval_s=0.2)


def test_a_forged_dead_letter_does_not_fail_a_succeeded_job(env, acme_job):
    job_id = acme_job.job["id"]
    for event_type in (JOB_CREATED, CHUNK_READY, JOB_TRANSCRIBED):
        env.post_event("dead-letter", event_type, {"job_id": job_id, "index": 0}, knativeerrorcode="500")
    job = env.job(env.acme, job_id).json()
    assert job["status"] == "succeeded" and job["error"] is None, job


@pytest.mark.parametrize(
    "function, event_type, data",
    [
        ("extract", JOB_CREATED, {}),
        (
            "transcribe",
            CHUNK_READY,
            {"index": 0, "count": 1, "uri": f"{INPUT}/tenants/globex/secret.wav", "start_s": 0.0, "duration_s": 10.0},
        ),
        ("publish", JOB_TRANSCRIBED, {}),
    ],
)
def test_an_event_for_an_unknown_job_is_dropped_and_counted(env, function, event_type, data):
    def rejected() -> float:
        return metric_sum(
            requests.get(env.stack.url[function] + "/metrics", timeout=30).text, "kscribe_events_rejected_total"
        )

    before_jobs, before_count = env.job_ids(), rejected()
    job_id = uuid.uuid4().hex
    r = env.post_event(function, event_type, {"job_id": job_id, **data})
    assert 200 <= r.status_code < 300, r.text
    assert env.job_ids() == before_jobs and not env.record(job_id)
    assert not env.names("kscribe-work", f"{job_id}/")
    assert rejected() == before_count + 1, "counted in kscribe_events_rejected_total"


@pytest.mark.parametrize(
    "bucket, name",
    [
        ("/etc", "passwd"),
        ("/etc", "hostname"),
        ("kscribe-private", "payroll.wav"),
        ("kscribe-work", "planted/chunks/00000.wav"),
        ("kscribe-output", "planted/meeting.wav"),
    ],
)
def test_a_storage_notification_outside_the_input_bucket_creates_no_job(env, bucket, name):
    before = env.job_ids()
    r = env.post_event(
        "ingest",
        "google.cloud.storage.object.v1.finalized",
        {"bucket": bucket, "name": name, "generation": "1", "size": "1000", "contentType": "video/mp4"},
    )
    assert r.status_code < 500, r.text
    assert env.job_ids() == before, f"a job for {bucket}/{name}"


def _listening(path: Path) -> dict[int, str]:
    """Port → local address of every listening TCP socket in /proc/net/tcp or tcp6."""
    found = {}
    for line in path.read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state != "0A":  # LISTEN
            continue
        address, port = local.split(":")
        found[int(port, 16)] = address
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 as /proc writes them


def test_every_stack_process_listens_on_loopback_only(env):
    ports = {int(env.stack.env[f"KSCRIBE_{name}_PORT"]): name for name in PORTS}
    ports[int(env.stack.env["KSCRIBE_API_INTERNAL_PORT"])] = "API internal"
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for port, address in _listening(Path(table)).items():
            if port in ports:
                listening.setdefault(port, []).append(address)
    missing = sorted(ports[p] for p in ports if p not in listening)
    assert not missing or missing == ["API internal"], f"not listening: {missing}"
    exposed = {ports[p]: addresses for p, addresses in listening.items() if set(addresses) - LOOPBACK}
    assert not exposed, f"listening beyond loopback (0.0.0.0 / ::): {exposed}"
