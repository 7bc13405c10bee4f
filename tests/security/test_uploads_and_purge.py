"""Findings N1, N4, N9 and N11 (an upload session's short body), re-run as they were found.

N1: page uploads bypassed ``max_active_jobs``: the quota was checked when the upload session
was made, and ingest made the job uncounted, so 6 sessions became 6 queued jobs for a tenant
capped at 2, usage showed ``active_jobs: 0`` and a further API job was accepted.

N4: after ``DELETE …?purge=true`` a page upload's recording stayed in the input bucket, and
polling ``GET /api/v1/uploads/{id}`` made its job again; purging a page upload's job while it
ran left a partial record on which ``GET`` answered 500.

N9: once the 7-day job record expired, purge answered 204 and left the outputs.

N11: an upload whose body ended short of its declared size was a 500.
"""

from __future__ import annotations

import socket

import pytest
import requests

from tests.conftest import wait_for
from tests.security.conftest import BASE, FINISHED, INPUT, MAX_ACTIVE_JOBS, OUTPUT

pytestmark = pytest.mark.model
UPLOADS = "/api/v1/uploads"


def _session(env, tenant, data: bytes, name: str = "tiny.wav") -> requests.Response:
    return requests.post(env.api + UPLOADS, json={"filename": name, "size": len(data)}, headers=tenant.auth, timeout=30)


def _send(env, tenant, session: dict, data: bytes) -> requests.Response:
    return requests.put(env.api + session["upload_url"], data=data, headers=tenant.auth, timeout=120)


def _usage(env, tenant) -> dict:
    r = requests.get(env.api + "/api/v1/usage", headers=tenant.auth, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _upload_job(env, tenant, upload_id: str) -> dict | None:
    r = requests.get(f"{env.api}{UPLOADS}/{upload_id}", headers=tenant.auth, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["job"]


def test_page_upload_sessions_take_job_slots(env):
    hooli = env.tenant("hooli")
    data = (env.media / "tiny.wav").read_bytes()
    answers = [_session(env, hooli, data) for _ in range(6)]
    made = [r for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert len(made) == MAX_ACTIVE_JOBS, [r.text for r in answers]
    assert all(r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded" for r in refused)
    usage = _usage(env, hooli)
    assert usage["active_jobs"] == MAX_ACTIVE_JOBS, usage
    # The further API job the finding saw accepted.
    env.storage().bucket("kscribe-input").blob("tenants/hooli/tiny.wav").upload_from_string(data)
    r = env.create(hooli, source=f"{INPUT}/tenants/hooli/tiny.wav")
    assert r.status_code == 429, r.text
    # The bytes arrive: each session's job takes its slot over (counted once, not twice).
    sessions = [r.json() for r in made]
    for session in sessions:
        assert _send(env, hooli, session, data).status_code == 200
    jobs = [wait_for(lambda s=s: _upload_job(env, hooli, s["id"]), timeout_s=60) for s in sessions]
    assert _usage(env, hooli)["active_jobs"] <= MAX_ACTIVE_JOBS
    for job in jobs:
        finished = env.wait_finished(hooli, job["id"])
        assert finished["status"] == "succeeded", finished
    assert _usage(env, hooli)["active_jobs"] == 0
    assert _session(env, hooli, data).status_code == 201, "slots come back once the jobs end"


def _running_page_upload(env, tenant) -> tuple[dict, str]:
    """A page upload of the whole meeting, caught while its job runs; (session, job id)."""
    data = env.media.joinpath("meeting.mkv").read_bytes()
    r = _session(env, tenant, data, "meeting.mkv")
    assert r.status_code == 201, r.text
    session = r.json()
    assert _send(env, tenant, session, data).status_code == 200
    job = wait_for(lambda: _upload_job(env, tenant, session["id"]), timeout_s=60)
    wait_for(
        lambda: env.record(job["id"]).get("status") in ("extracting", "transcribing") + FINISHED,
        timeout_s=120,
        interval_s=0.02,
    )
    return session, job["id"]


def test_purging_a_running_page_upload_leaves_nothing(env):
    pied = env.tenant("piedpiper")
    session, job_id = _running_page_upload(env, pied)
    assert any(n.startswith(f"tenants/piedpiper/web/{session['id']}/") for n in env.names("kscribe-input"))
    r = requests.delete(f"{env.api}{BASE}/{job_id}", params={"purge": "true"}, headers=pied.auth, timeout=60)
    assert r.status_code == 204, r.text
    # The recording is gone from the input bucket, and so is its session: polling the upload
    # (as the page does) answers 404 and never makes the job again.
    assert not [n for n in env.names("kscribe-input") if n.startswith(f"tenants/piedpiper/web/{session['id']}/")]
    # The stages still at work when it was purged store nothing that brings the job back.
    for _ in range(40):
        poll = requests.get(f"{env.api}{UPLOADS}/{session['id']}", headers=pied.auth, timeout=30)
        assert poll.status_code == 404, poll.text
        got = env.job(pied, job_id)
        assert got.status_code == 404, (got.status_code, got.text)
        assert env.record(job_id) == {}, env.record(job_id)
        assert not [j for j in env.job_ids() if env.record(j).get("tenant") == "piedpiper"]
    wait_for(lambda: not env.names("kscribe-work", f"jobs/{job_id}/"), timeout_s=120)


def test_purge_works_after_the_job_record_expired(env):
    wayne = env.tenant("wayne")
    env.storage().bucket("kscribe-input").blob("tenants/wayne/tiny.wav").upload_from_filename(
        str(env.media / "tiny.wav")
    )
    r = env.create(wayne, source=f"{INPUT}/tenants/wayne/tiny.wav")
    assert r.status_code == 202, r.text
    job = env.wait_finished(wayne, r.json()["id"])
    assert job["status"] == "succeeded" and job["outputs"], job
    output_prefix = job["outputs"]["json"].rsplit("/", 1)[0].removeprefix(f"{OUTPUT}/") + "/"
    assert env.names("kscribe-output", output_prefix)
    # Seven days on: the record expires (as Redis would drop it); the outputs stay a year.
    env.stack.redis.delete(f"kscribe:job:{job['id']}")
    assert env.job(wayne, job["id"]).status_code == 404
    # Another tenant's purge of it does nothing.
    r = requests.delete(f"{env.api}{BASE}/{job['id']}", params={"purge": "true"}, headers=env.globex.auth, timeout=60)
    assert r.status_code == 204 and env.names("kscribe-output", output_prefix)
    r = requests.delete(f"{env.api}{BASE}/{job['id']}", params={"purge": "true"}, headers=wayne.auth, timeout=60)
    assert r.status_code == 204, r.text
    assert env.names("kscribe-output", output_prefix) == []
    # What a purge needs is remembered, bounded: every plan has a date it is forgotten by.
    kept = env.stack.redis.zrange("kscribe:purges:kept", 0, -1)
    plans = env.stack.redis.hkeys("kscribe:purges:plans")
    assert job["id"] not in plans and set(plans) <= set(kept)


def test_an_upload_body_ending_short_is_a_400(env):
    stark = env.tenant("stark")
    data = (env.media / "tiny.wav").read_bytes()
    session = _session(env, stark, data).json()
    port = int(env.stack.env["KSCRIBE_API_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(
            f"PUT {session['upload_url']} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {stark.token}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data[: len(data) // 2]
        )
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while piece := s.recv(4096):
            answer += piece
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"upload_incomplete" in answer
    # Nothing half-stored: the whole file may be sent again.
    assert _send(env, stark, session, data).status_code == 200
