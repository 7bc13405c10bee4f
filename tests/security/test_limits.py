"""Findings: the API read a request's whole body before checking its key, so anyone could make
it buffer gigabytes; deeply nested JSON crashed the parser (500); an Idempotency-Key reused
with another body silently returned the first job; a tenant could queue unlimited jobs; /metrics
and the detailed readiness report were public, and any HTTP method became a new metrics series;
guessing keys was unlimited."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
import requests

from tests.conftest import SAMPLE_VIDEO
from tests.security.conftest import BASE, INPUT, MAX_ACTIVE_JOBS, MAX_BODY_BYTES
from tests.stack import metric_sum

pytestmark = pytest.mark.model


def _connection(env, source_address: str) -> http.client.HTTPConnection:
    """A connection from another loopback address, so per-address limits here touch no other test."""
    port = int(env.stack.env["KSCRIBE_API_PORT"])
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source_address, 0))


def test_an_unauthenticated_huge_body_is_refused_without_being_read(env):
    port = int(env.stack.env["KSCRIBE_API_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.3", 0)) as s:
        s.sendall(
            f"POST {BASE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {8 * 1024**3}\r\n\r\n".encode()
            + b"{"
            + b" " * 65536
        )
        s.settimeout(10)
        try:
            head = s.recv(4096).decode("latin-1")
        except TimeoutError:
            head = "(no answer in 10 s: the server is waiting for the 8 GiB body)"
    assert head.startswith("HTTP/1.1 401"), head[:300]


def test_an_authenticated_body_over_the_limit_is_413(env):
    body = json.dumps({"source": f"{INPUT}/tenants/acme/tiny.wav", "metadata": {"k": "v" * MAX_BODY_BYTES}})
    r = requests.post(
        env.api + BASE, data=body, headers={**env.acme.auth, "Content-Type": "application/json"}, timeout=30
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large", r.text


def test_deeply_nested_json_is_invalid_json_not_a_crash(env):
    for body in ("[" * 10000 + "]" * 10000, '{"metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5001):
        r = requests.post(
            env.api + BASE, data=body, headers={**env.acme.auth, "Content-Type": "application/json"}, timeout=30
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text[:300]


@pytest.mark.parametrize(
    ("field", "entry"),
    [("formats", 1), ("hotwords", 0), ("metadata", None), ("replacements", None)],
)
def test_a_body_full_of_bad_entries_is_refused_at_the_first(env, field, entry):
    # Each bad entry cost the schema check an error, and oneOf one per entry per form: 64 KiB
    # of them took seconds of the api's CPU per request, at the key's full request rate.
    count = MAX_BODY_BYTES // 3 - 100
    value = [entry] * count if entry is not None else {str(i): 0 for i in range(MAX_BODY_BYTES // 11)}
    body = json.dumps({"source": f"{INPUT}/tenants/acme/tiny.wav", field: value})
    assert len(body) <= MAX_BODY_BYTES
    timings = []
    for _ in range(3):
        r = requests.post(
            env.api + BASE, data=body, headers={**env.acme.auth, "Content-Type": "application/json"}, timeout=60
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == f"invalid_{field}", r.text[:300]
        timings.append(r.elapsed.total_seconds())
    assert min(timings) < 0.2, timings


def test_an_idempotency_key_reused_with_another_body_is_422(env, initech):
    headers = {"Idempotency-Key": "order-42"}
    source = f"{INPUT}/tenants/initech/meeting.mp4"
    first = env.create(initech, headers, source=source, language="en")
    assert first.status_code == 202, first.text
    try:
        again = env.create(initech, headers, source=source, language="en")
        assert again.status_code == 202 and again.json()["id"] == first.json()["id"], again.text
        other = env.create(initech, headers, source=source, language="en", task="translate")
        if other.status_code == 202 and other.json()["id"] != first.json()["id"]:
            env.cancel(initech, other.json()["id"])
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused", other.text
    finally:
        env.cancel(initech, first.json()["id"])


def test_a_tenant_over_its_active_job_quota_gets_429(env):
    tenant = env.tenant("quota")
    # The whole meeting: its jobs stay active while the next request comes.
    env.storage().bucket("kscribe-input").blob("tenants/quota/meeting.mp4").upload_from_filename(str(SAMPLE_VIDEO))
    created = []
    try:
        for _ in range(MAX_ACTIVE_JOBS):
            r = env.create(tenant, source=f"{INPUT}/tenants/quota/meeting.mp4")
            assert r.status_code == 202, r.text
            created.append(r.json()["id"])
        r = env.create(tenant, source=f"{INPUT}/tenants/quota/meeting.mp4")
        if r.status_code == 202:
            created.append(r.json()["id"])
        assert r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded", r.text
    finally:
        for job_id in created:
            env.cancel(tenant, job_id)
    r = env.create(tenant, source=f"{INPUT}/tenants/quota/meeting.mp4")
    assert r.status_code == 202, "cancelled jobs no longer count"
    env.cancel(tenant, r.json()["id"])


def test_metrics_and_readiness_details_are_served_on_the_internal_port_only(env):
    assert requests.get(env.api + "/metrics", timeout=30).status_code == 404
    ready = requests.get(env.api + "/health/ready", timeout=30)
    assert set(ready.json()) == {"status"}, ready.text
    internal = requests.get(env.internal_url + "/metrics", timeout=30)
    assert internal.status_code == 200 and "kscribe_api_requests_total" in internal.text
    detailed = requests.get(env.internal_url + "/health/ready", timeout=30).json()
    assert detailed["status"] == "ok" and detailed["checks"]["redis"]["status"] == "ok", detailed


def _api_metrics(env) -> str:
    # Wherever /metrics is served (the internal port once the public one answers 404).
    for url in (env.internal_url, env.api):
        try:
            r = requests.get(url + "/metrics", timeout=30)
        except requests.ConnectionError:
            continue
        if r.status_code == 200:
            return r.text
    raise AssertionError("no /metrics on the API's ports")


def test_an_unknown_http_method_adds_no_metrics_series(env):
    for method in ("FOO", "BREW", "X" * 40):
        requests.request(method, env.api + BASE, headers=env.acme.auth, timeout=30)
    text = _api_metrics(env)
    assert 'method="FOO"' not in text and 'method="BREW"' not in text and "X" * 40 not in text
    assert metric_sum(text, "kscribe_api_requests_total") > 0


def test_guessing_keys_from_one_address_is_rate_limited(env):
    # Failures are counted per minute of the clock: a run of guesses that straddles a minute
    # is two half-counts, so it is tried again from another address (at most three runs).
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        minute, codes = time.time() // 60, []
        for i in range(31):
            conn = _connection(env, address)
            conn.request("GET", BASE, headers={"Authorization": f"Bearer ksk_guess{i:04d}"})
            codes.append(conn.getresponse().status)
            conn.close()
        if time.time() // 60 == minute:
            break
    assert codes[:30] == [401] * 30 and codes[30] == 429, codes
    # A valid key from another address is not held back by the guesser.
    assert requests.get(env.api + BASE, headers=env.acme.auth, timeout=30).status_code == 200
