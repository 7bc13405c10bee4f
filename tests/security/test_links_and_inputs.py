"""Findings N8 (a result link with a 10-year expiry, written with leading zeros, was
accepted), N11 (a result link for a source with a non-ASCII name answered 500: its
Content-Disposition was not RFC 6266/5987-encoded) and the earlier findings still open then:
an upload metadata key ``KSCRIBE-…`` and the language ``zz`` were accepted."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import unquote

import pytest
import requests

from tests.conftest import wait_for
from tests.security.conftest import INPUT

pytestmark = pytest.mark.model
NAME = "réunion d’été.wav"


@pytest.fixture(scope="module")
def non_ascii_job(env):
    umbrella = env.tenant("umbrella")
    env.storage().bucket("kscribe-input").blob(f"tenants/umbrella/{NAME}").upload_from_filename(
        str(env.media / "tiny.wav")
    )
    r = env.create(umbrella, source=f"{INPUT}/tenants/umbrella/{NAME}")
    assert r.status_code == 202, r.text
    job = env.wait_finished(umbrella, r.json()["id"])
    assert job["status"] == "succeeded", job
    return umbrella, env.job(umbrella, job["id"]).json()


def test_a_link_for_a_non_ascii_name_downloads_with_an_encoded_name(env, non_ascii_job):
    _, job = non_ascii_job
    url = job["links"]["srt"]["url"]
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    disposition = r.headers["Content-Disposition"]
    assert disposition.isascii(), disposition
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == NAME.rsplit(".", 1)[0] + ".srt", disposition


def _token_parts(url: str) -> tuple[str, str, str, str]:
    job_id, fmt, expires, signature = url.rsplit("/", 1)[1].split(".")
    return job_id, fmt, expires, signature


def test_a_link_spelled_with_leading_zeros_is_refused(env, non_ascii_job):
    _, job = non_ascii_job
    url = job["links"]["srt"]["url"]
    job_id, fmt, expires, signature = _token_parts(url)
    assert requests.get(url, timeout=30).status_code == 200
    padded = url.replace(f".{expires}.", f".00{expires}.")
    assert requests.get(padded, timeout=30).status_code in (403, 404)


def test_a_ten_year_link_is_refused_even_with_a_good_signature(env, non_ascii_job):
    _, job = non_ascii_job
    job_id, fmt, _, _ = _token_parts(job["links"]["srt"]["url"])
    # Signed with the key itself, as whoever read it (the finding: from Redis) could.
    secret = env.stack.redis.get("kscribe:link-secret")
    assert secret, "the local stack keeps its link key in Redis (production: Secret Manager)"
    expires = int(time.time()) + 10 * 365 * 86400
    signature = hmac.new(secret.encode(), f"link.v1.{job_id}.{fmt}.{expires}".encode(), hashlib.sha256).hexdigest()
    r = requests.get(f"{env.api}/api/v1/links/{job_id}.{fmt}.{expires}.{signature}", timeout=30)
    assert r.status_code == 403, r.text
    # The same key and a week's expiry: accepted (the refusal is the expiry's).
    expires = int(time.time()) + 3600
    signature = hmac.new(secret.encode(), f"link.v1.{job_id}.{fmt}.{expires}".encode(), hashlib.sha256).hexdigest()
    assert requests.get(f"{env.api}/api/v1/links/{job_id}.{fmt}.{expires}.{signature}", timeout=30).status_code == 200


@pytest.mark.parametrize("key", ["KSCRIBE-model", "Kscribe-callback-url", "kscribe-upload"])
def test_reserved_metadata_keys_are_refused_in_any_case(env, key):
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/tiny.wav", metadata={key: "x"})
    if r.status_code == 202:
        env.cancel(env.acme, r.json()["id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata", r.text


def test_a_language_whisper_does_not_speak_is_refused(env):
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/tiny.wav", language="zz")
    if r.status_code == 202:
        env.cancel(env.acme, r.json()["id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_language", r.text
    r = requests.post(
        env.api + "/v1/audio/transcriptions",
        headers=env.acme.auth,
        data={"model": "whisper-1", "language": "zz"},
        files={"file": ("tiny.wav", (env.media / "tiny.wav").read_bytes(), "audio/wav")},
        timeout=60,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_language", r.text


def test_a_bucket_upload_asking_for_zz_fails_with_a_reason(env):
    blob = env.storage().bucket("kscribe-input").blob("tenants/globex/zz.wav")
    blob.metadata = {"kscribe-language": "zz"}
    blob.upload_from_filename(str(env.media / "tiny.wav"))
    assert env.upload_notice("tenants/globex/zz.wav").status_code < 300

    def failed():
        for job_id in env.job_ids():
            record = env.record(job_id)
            if record.get("source_uri") == f"{INPUT}/tenants/globex/zz.wav" and record.get("status") == "failed":
                return record
        return None

    record = wait_for(failed, timeout_s=60)
    assert "zz" in record["error"], record
