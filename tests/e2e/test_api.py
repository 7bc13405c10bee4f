"""The api function as a running functions-framework process, over real HTTP, real Redis."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from kscribe import events
from kscribe.tenancy.apikeys import ApiKeys
from kscribe.tenancy.tenants import Tenants
from tests import redis_servers
from tests.conftest import ROOT, SAMPLE_VIDEO, stop_process, wait_for
from tests.functional.conftest import CaptureSink, validate
from tests.stack import free_port

RATE = 30
AUTH_FAILURES = 30
MAX_BODY = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("api")
    redis_server = redis_servers.started(request, tmp / "api.rdb")
    sink = CaptureSink()
    request.addfinalizer(sink.close)
    port, internal_port = free_port(), free_port()
    (tmp / "input").mkdir()
    shutil.copyfile(SAMPLE_VIDEO, tmp / "input" / "meeting.mp4")
    env = {
        **os.environ,
        "KSCRIBE_DATA_DIR": str(tmp / "data"),
        "REDIS_URL": f"unix://{redis_server.socket_file}",
        "K_SINK": sink.url,
        "KSCRIBE_API_LOCAL_SOURCES": "true",
        "KSCRIBE_API_RATE_PER_MINUTE": str(RATE),
        "KSCRIBE_API_MAX_BODY_BYTES": str(MAX_BODY),
        "KSCRIBE_INTERNAL_PORT": str(internal_port),
        # Loopback is our proxy, so each test can speak from an address of its own (X-Forwarded-For).
        "KSCRIBE_TRUSTED_PROXIES": "127.0.0.0/8",
        "KSCRIBE_API_AUTH_FAILURES_PER_MINUTE": str(AUTH_FAILURES),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("KSCRIBE_CALLBACK_ALLOW", None)
    log = open(tmp / "api.log", "w")
    process = subprocess.Popen(
        ["functions-framework", "--source", str(ROOT / "functions" / "api.py"), "--target", "api", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    request.addfinalizer(lambda: stop_process(process, log))
    url = f"http://127.0.0.1:{port}"

    def up():
        assert process.poll() is None, (tmp / "api.log").read_text()
        try:
            return requests.get(url + "/health/live", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout_s=60)
    keys = ApiKeys(redis_server)
    yield {
        "url": url,
        "internal": f"http://127.0.0.1:{internal_port}",
        "port": port,
        "pid": process.pid,
        "redis": redis_server,
        "sink": sink,
        "keys": keys,
        "input": tmp / "input",
    }


def key(server, tenant="acme"):
    """A key of ``tenant``, which may also use the test's input directory as sources."""
    token = server["keys"].create(tenant)[0]
    Tenants(server["redis"]).add_sources(tenant, [str(server["input"])])
    return {"Authorization": f"Bearer {token}"}


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
    assert (
        requests.get(server["url"] + f"/api/v1/transcriptions/{job_id}", headers=other, timeout=10).status_code == 404
    )
    listed = requests.get(server["url"] + "/api/v1/transcriptions?status=queued", headers=acme, timeout=10).json()
    assert job_id in [i["id"] for i in listed["items"]]
    assert requests.get(server["url"] + "/api/v1/transcriptions", headers=other, timeout=10).json()["items"] == []
    r = requests.get(server["url"] + f"/api/v1/transcriptions/{job_id}/transcript?format=srt", headers=acme, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_ready"


def test_a_cursor_past_any_listing_is_a_400_not_a_crash(server):
    r = requests.get(server["url"] + "/api/v1/transcriptions?cursor=" + "9" * 30, headers=key(server), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_query"


def test_list_pages_with_a_cursor(server):
    headers = key(server, "pager")
    ids = [create(server, headers).json()["id"] for _ in range(5)]
    seen, cursor = [], "0"
    while cursor is not None:
        page = requests.get(
            server["url"] + f"/api/v1/transcriptions?limit=2&cursor={cursor}", headers=headers, timeout=10
        ).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids)), "newest first, each once"


def test_vocabulary_and_subtitle_options_ride_on_the_job(server):
    acme = key(server, "acme")
    r = create(
        server,
        acme,
        prompt="Zorblax quarterly review.",
        hotwords=["Zorblax", "Quuxly"],
        replacements={"cube control": "kubectl"},
        subtitles={"max_line_chars": 32, "max_lines": 1, "srt_start_index": 0},
        audio_track="DEU",
    )
    assert r.status_code == 202, r.text
    job = requests.get(server["url"] + f"/api/v1/transcriptions/{r.json()['id']}", headers=acme, timeout=10).json()
    assert job["prompt"] == "Zorblax quarterly review." and job["hotwords"] == "Zorblax, Quuxly"
    assert job["replacements"] == {"cube control": "kubectl"}
    assert job["subtitles"] == {"max_line_chars": 32, "max_lines": 1, "srt_start_index": 0}
    assert job["audio_track"] == "deu" and job["audio_track_used"] is None  # chosen when extracted
    r = create(server, acme, audio_track=0)
    job = requests.get(server["url"] + f"/api/v1/transcriptions/{r.json()['id']}", headers=acme, timeout=10).json()
    assert job["audio_track"] == "0", "0 is the first track, not automatic"
    assert job["channels"] == "mix" and job["channels_note"] is None


def test_channels_split_rides_on_the_job(server):
    acme = key(server, "acme")
    r = create(server, acme, channels="split")
    assert r.status_code == 202, r.text
    job = requests.get(server["url"] + f"/api/v1/transcriptions/{r.json()['id']}", headers=acme, timeout=10).json()
    assert job["channels"] == "split"


def _upload_session(server, headers, **choices):
    body = {"filename": "talk.mkv", "size": 1000, "content_type": "video/x-matroska", **choices}
    return requests.post(server["url"] + "/api/v1/uploads", json=body, headers=headers, timeout=10)


def test_an_upload_session_carries_the_audio_options_to_its_object(server):
    acme = key(server, "acme")
    r = _upload_session(server, acme, audio_track=1, channels="split", multilingual=False, language="en")
    assert r.status_code == 201, r.text
    # The metadata the object is stored with (api mode keeps it with the upload until the bytes come).
    stored = json.loads(server["redis"].hget(f"kscribe:upload:{r.json()['id']}", "metadata"))
    assert stored == {
        "kscribe-upload": r.json()["id"],
        "kscribe-language": "en",
        "kscribe-audio-track": "1",
        "kscribe-channels": "split",
        "kscribe-multilingual": "false",
    }


@pytest.mark.parametrize(
    "body, code",
    [
        ({"audio_track": "german"}, "invalid_audio_track"),
        ({"audio_track": 1000}, "invalid_audio_track"),
        ({"channels": "stereo"}, "invalid_channels"),
        ({"multilingual": "yes"}, "invalid_multilingual"),
        ({"prompt": "Kubernetes"}, "unknown_field"),
    ],
)
def test_a_bad_audio_option_of_an_upload_session_is_a_clear_400(server, body, code):
    r = _upload_session(server, key(server), **body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text


def test_an_idempotency_key_returns_the_first_job(server):
    headers = {**key(server), "Idempotency-Key": "order-42"}
    server["sink"].take()
    first, second = create(server, headers), create(server, headers)
    assert first.status_code == second.status_code == 202 and first.json()["id"] == second.json()["id"]
    assert len(server["sink"].take()) == 1


@pytest.mark.parametrize(
    "body, code",
    [
        ({"language": "English"}, "invalid_language"),
        ({"task": "summarise"}, "invalid_task"),
        ({"language": "en\n"}, "invalid_language"),
        ({"hotwords": [""] * 1000}, "invalid_hotwords"),
        ({"model": "huge-v9"}, "invalid_model"),
        ({"formats": ["srt", "docx"]}, "invalid_formats"),
        ({"metadata": {"a": 1}}, "invalid_metadata"),
        ({"prompt": "x" * 801}, "invalid_prompt"),
        ({"prompt": 42}, "invalid_prompt"),
        ({"hotwords": "a\x00b"}, "invalid_hotwords"),
        ({"replacements": {"cube control": 1}}, "invalid_replacements"),
        ({"replacements": {f"w{i}": "x" for i in range(101)}}, "invalid_replacements"),
        ({"subtitles": {"max_lines": 9}}, "invalid_subtitles"),
        ({"subtitles": {"min_cue_s": 5, "max_cue_s": 2}}, "invalid_subtitles"),
        ({"subtitles": {"font": "Arial"}}, "invalid_subtitles"),
        ({"channels": "stereo"}, "invalid_channels"),
        ({"channels": 2}, "invalid_channels"),
        ({"audio_track": "german"}, "invalid_audio_track"),
        ({"audio_track": "x" * 500}, "invalid_audio_track"),
        ({"audio_track": -1}, "invalid_audio_track"),
        ({"audio_track": True}, "invalid_audio_track"),
        ({"audio_track": ["de"]}, "invalid_audio_track"),
        ({"colour": "blue"}, "unknown_field"),
        ({"source": "gs://bucket-only"}, "source_not_found"),
        ({"source": "/etc/passwd-nope"}, "source_not_found"),
        ({"source": "http://example.com/v.mp4"}, "invalid_source"),
    ],
)
def test_each_bad_field_is_a_clear_400(server, body, code):
    r = create(server, key(server), **body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert r.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["video/mp4\n", "vidéo/mp4"])
def test_an_upload_s_content_type_is_one_header_value(server, content_type):
    # It becomes the bucket upload session's Content-Type header: a newline there was a 500.
    body = {"filename": "talk.mp4", "size": 10, "content_type": content_type}
    r = requests.post(server["url"] + "/api/v1/uploads", json=body, headers=key(server), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_content_type", r.text


def test_malformed_and_oversized_bodies(server):
    url, headers = server["url"] + "/api/v1/transcriptions", key(server)
    r = requests.post(url, data="{not json", headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = requests.post(url, json={"source": "x", "metadata": {"k": "v" * 5000}}, headers=headers, timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/computeMetadata/v1/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]/hook",
        "ftp://example.com/hook",
    ],
)
def test_callback_urls_to_internal_addresses_are_refused(server, target):
    r = create(server, key(server), callback_url=target)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_callback_url", r.text


def test_the_rate_limit_answers_429_with_retry_after(server):
    headers = key(server, "busy")
    codes = [
        requests.get(server["url"] + "/api/v1/transcriptions", headers=headers, timeout=10).status_code
        for _ in range(RATE + 1)
    ]
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
    schemas = spec["components"]["schemas"]
    assert "audio_track" in schemas["CreateTranscription"]["properties"]
    assert "audio_track_used" in schemas["Transcription"]["properties"]
    text = requests.get(server["internal"] + "/metrics", timeout=10).text
    assert 'kscribe_api_requests_total{method="POST",route="create",status="202"}' in text
    assert 'kscribe_api_requests_total{method="GET",route="list",status="401"}' in text
    assert "kscribe_jobs_stuck 0.0" in text


# --- the edge: what a request costs before its key is known, and what the internet sees ---


def worker_pid(server) -> int:
    """gunicorn's worker: the child of the functions-framework process that serves requests."""
    children = [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _ppid(stat) == server["pid"]]
    assert len(children) == 1, children
    return children[0]


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of ``pid``, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def stream_body(server, headers: dict[str, str], total: int, chunked: bool = False, piece: int = 16 * 1024):
    """POST a body of ``total`` bytes piece by piece, stopping as soon as the server answers.
    Returns (status, JSON body, bytes sent by then)."""
    connection = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)
    connection.putrequest("POST", "/api/v1/transcriptions")
    for name, value in {
        **headers,
        **({"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}),
    }.items():
        connection.putheader(name, value)
    connection.endheaders()
    sent, data = 0, b"x" * piece
    try:
        while sent < total and not select.select([connection.sock], [], [], 0)[0]:
            connection.send(b"%x\r\n%s\r\n" % (piece, data) if chunked else data)
            sent += piece
    except OSError:
        pass  # the server answered and closed while we were still sending
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body, sent


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(server):
    worker = worker_pid(server)
    peak_before = memory_kib(worker, "VmHWM")
    for chunked in (False, True):
        status, body, sent = stream_body(
            server, {"X-Forwarded-For": "198.51.100.1"}, 800 * 1024 * 1024, chunked=chunked
        )
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert sent < 8 * 1024 * 1024, f"answered only after {sent} bytes: the body was read first"
    peak_after = memory_kib(worker, "VmHWM")
    assert peak_after - peak_before < 20 * 1024, (peak_before, peak_after)
    assert requests.get(server["url"] + "/health/live", timeout=10).ok


def test_an_authenticated_oversized_body_is_413_without_reading_it(server):
    headers = key(server, "big")
    status, body, sent = stream_body(server, headers, 800 * 1024 * 1024)
    assert status == 413 and body["error"]["code"] == "body_too_large" and sent < 8 * 1024 * 1024
    # No Content-Length: read up to the limit, then refused.
    status, body, sent = stream_body(server, headers, 800 * 1024 * 1024, chunked=True)
    assert status == 413 and body["error"]["code"] == "body_too_large" and sent < 8 * 1024 * 1024

    def pieces():
        for _ in range(3):
            yield b" " * (MAX_BODY // 2)

    r = requests.post(server["url"] + "/api/v1/transcriptions", data=pieces(), headers=headers, timeout=10)
    assert r.status_code == 413, r.text
    within = json.dumps({"source": str(server["input"] / "meeting.mp4")}).encode()

    def small_pieces():
        yield within[:10]
        yield within[10:]

    r = requests.post(server["url"] + "/api/v1/transcriptions", data=small_pieces(), headers=headers, timeout=10)
    assert r.status_code == 202, "a chunked body within the limit is read whole"


@pytest.mark.parametrize(
    "body, code",
    [
        ("[" * 2000 + "]" * 2000, "invalid_json"),  # was a RecursionError (500) in the JSON decoder
        ('{"a":' * 33 + "1" + "}" * 33, "invalid_json"),
        ('{"a":' * 32 + "1" + "}" * 32, "unknown_field"),  # 32 deep still parses
        ('{"source": "' + "[" * 40 + '", "colour": 1}', "unknown_field"),  # brackets inside a string do not count
    ],
)
def test_json_nesting_is_bounded(server, body, code):
    r = requests.post(
        server["url"] + "/api/v1/transcriptions",
        data=body,
        headers={**key(server), "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text


def test_failed_authentications_are_limited_per_client_address(server):
    url, good = server["url"] + "/api/v1/transcriptions", key(server, "guessed")
    for attempt in range(2):  # a minute boundary inside the burst starts a fresh window: once more
        window = time.time() // 60
        address = f"203.0.113.{attempt + 1}"
        # A client cannot choose its address by writing X-Forwarded-For: our proxy's entry is rightmost.
        guesses = [
            requests.get(
                url,
                headers={"Authorization": f"Bearer ksk_guess{i}", "X-Forwarded-For": f"10.9.9.{i}, {address}"},
                timeout=10,
            )
            for i in range(AUTH_FAILURES + 1)
        ]
        if time.time() // 60 == window:
            break
    codes = [r.status_code for r in guesses]
    assert codes == [401] * AUTH_FAILURES + [429], codes
    refused = guesses[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.json()["error"]["code"] == "rate_limited"
    again = requests.get(
        url, headers={"Authorization": "Bearer ksk_guess-more", "X-Forwarded-For": address}, timeout=10
    )
    assert again.status_code == 429, "the guesser stays refused"
    r = requests.get(url, headers={**good, "X-Forwarded-For": address}, timeout=10)
    assert r.status_code == 200, "a valid key sharing the guesser's address is not locked out"
    assert requests.get(url, headers={**good, "X-Forwarded-For": "203.0.113.99"}, timeout=10).status_code == 200
    assert requests.get(url, headers=good, timeout=10).status_code == 200, "without the header: the peer address"


def test_any_method_name_shares_one_label(server):
    r = requests.request("FOO", server["url"] + "/api/v1/transcriptions", timeout=10)
    assert r.status_code == 405
    text = requests.get(server["internal"] + "/metrics", timeout=10).text
    assert 'kscribe_api_requests_total{method="other",route="unknown",status="405"}' in text
    assert 'method="FOO"' not in text


def test_the_public_port_tells_only_ok_or_fail(server):
    r = requests.get(server["url"] + "/health/ready", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert requests.get(server["url"] + "/metrics", timeout=10).status_code == 404
    detailed = requests.get(server["internal"] + "/health/ready", timeout=10).json()
    assert detailed["status"] == "ok" and set(detailed["checks"]) == {"redis", "buckets"}


def test_readiness_turns_red_when_redis_stops(server):
    ready = requests.get(server["internal"] + "/health/ready", timeout=10)
    body = ready.json()
    assert ready.status_code == 200 and body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["buckets"]["status"] == "ok" and "latency_ms" in body["checks"]["redis"]
    server["redis"].connection_pool.disconnect()
    subprocess.run(["kill", str(server["redis"].pid)], check=True)

    def red():
        r = requests.get(server["internal"] + "/health/ready", timeout=10)
        return r.json() if r.status_code == 503 else None  # (a 503 Response itself is falsy)

    body = wait_for(red, timeout_s=30)
    assert body["status"] == "fail" and body["checks"]["redis"]["status"] == "fail"
    public = requests.get(server["url"] + "/health/ready", timeout=10)
    assert public.status_code == 503 and public.json() == {"status": "fail"}
    assert requests.get(server["url"] + "/health/live", timeout=10).status_code == 200
    # A client gets an answer it can act on, in JSON, not an HTML 500.
    r = requests.get(server["url"] + "/api/v1/transcriptions", headers={"Authorization": "Bearer ksk_x"}, timeout=30)
    assert r.status_code == 503 and r.headers["Content-Type"] == "application/json"
    assert r.json()["error"]["code"] == "unavailable" and int(r.headers["Retry-After"]) > 0
