"""Finding: outputs were named after the source alone (``<output>/<object name minus extension>``),
so two tenants, or ``meeting.mkv`` beside ``meeting.mp4``, wrote the same transcript objects —
one tenant downloaded another's words through its own job. Bucket uploads under
``tenants/<t>/`` belonged to no tenant. Each job must write under a prefix of its own and
each tenant reach only its own jobs."""

from __future__ import annotations

import json

import pytest
import requests

from kscribe.transcript.quality import word_error_rate
from tests.conftest import SAMPLE_TEXT, wait_for
from tests.security.conftest import BASE, FINISHED, OUTPUT

FORMATS = ("json", "srt", "tsv", "txt", "vtt")

pytestmark = pytest.mark.model


def _transcript(env, tenant, job_id, fmt="json") -> requests.Response:
    return requests.get(f"{env.api}{BASE}/{job_id}/transcript?format={fmt}", headers=tenant.auth, timeout=30)


def test_api_jobs_write_under_the_tenants_job_prefix(env, acme_job, globex_job):
    for done in (acme_job, globex_job):
        job = done.job
        stem = "meeting"
        assert job["outputs"] == {
            f: f"{OUTPUT}/tenants/{done.tenant.name}/jobs/{job['id']}/{stem}.{f}" for f in FORMATS
        }, job["outputs"]


def test_each_tenant_downloads_only_its_own_transcript(env, acme_job, globex_job):
    for done, other in ((acme_job, globex_job), (globex_job, acme_job)):
        own = _transcript(env, done.tenant, done.job["id"])
        assert own.status_code == 200, own.text
        assert json.loads(own.content)["job_id"] == done.job["id"]
        assert word_error_rate(SAMPLE_TEXT, _transcript(env, done.tenant, done.job["id"], "txt").text) <= 0.08
        for path in ("", "/transcript?format=json"):
            r = requests.get(f"{env.api}{BASE}/{other.job['id']}{path}", headers=done.tenant.auth, timeout=30)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        r = env.cancel(done.tenant, other.job["id"])
        assert r.status_code == 404, r.text
        listed = requests.get(env.api + BASE, headers=done.tenant.auth, timeout=30).json()["items"]
        assert other.job["id"] not in [j["id"] for j in listed]


def _upload_job(env, bucket_name: str) -> tuple[str, int]:
    generation = env.storage().bucket("kscribe-input").get_blob(bucket_name).generation
    before = env.job_ids()
    assert env.upload_notice(bucket_name).ok
    new = [i for i in env.job_ids() - before if env.record(i).get("source_uri") == f"gs://kscribe-input/{bucket_name}"]
    assert len(new) == 1, f"one job for the upload of {bucket_name}"
    wait_for(lambda: env.record(new[0]).get("status") in FINISHED, timeout_s=240, interval_s=0.5)
    return new[0], generation


def test_a_tenants_bucket_upload_is_its_job_with_outputs_of_its_own(env, acme_job):
    """meeting.mkv uploaded beside acme's meeting.mp4: same stem, separate outputs."""
    env.storage().bucket("kscribe-input").blob("tenants/acme/meeting.mkv").upload_from_filename(
        str(env.media / "meeting.mkv")
    )
    job_id, generation = _upload_job(env, "tenants/acme/meeting.mkv")
    record = env.record(job_id)
    assert record["status"] == "succeeded", record.get("error")
    seen = env.job(env.acme, job_id)
    assert seen.status_code == 200, "the upload under tenants/acme/ is acme's job"
    assert env.job(env.globex, job_id).status_code == 404
    assert seen.json()["outputs"]["json"] == (f"{OUTPUT}/tenants/acme/uploads/meeting.mkv/{generation}/meeting.json")
    # acme's API job on meeting.mp4 still serves its own transcript, not the upload's.
    assert json.loads(_transcript(env, env.acme, acme_job.job["id"]).content)["job_id"] == acme_job.job["id"]


def test_a_bucket_upload_outside_tenant_prefixes_writes_under_uploads(env):
    job_id, generation = _upload_job(env, "shared/tiny.wav")
    record = env.record(job_id)
    assert record["status"] == "succeeded", record.get("error")
    assert record.get("tenant", "") == ""
    assert json.loads(record["outputs"])["json"] == (
        f"{OUTPUT}/uploads/kscribe-input/shared/tiny.wav/{generation}/tiny.json"
    )
    for tenant in (env.acme, env.globex):
        assert env.job(tenant, job_id).status_code == 404


def test_listing_by_status_finds_the_tenants_finished_jobs(env, acme_job, globex_job):
    def listed(tenant, status):
        r = requests.get(f"{env.api}{BASE}?status={status}&limit=100", headers=tenant.auth, timeout=30)
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()["items"]]

    assert acme_job.job["id"] in listed(env.acme, "succeeded")
    assert acme_job.job["id"] not in listed(env.acme, "queued")
    assert acme_job.job["id"] not in listed(env.globex, "succeeded")
    assert globex_job.job["id"] in listed(env.globex, "succeeded")
