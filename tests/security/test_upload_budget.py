"""Finding N5: uploads filled the api's disk. Four concurrent 500 MiB OpenAI-route uploads put
1.94 GiB on the api's scratch at once (production's emptyDir holds 2 GiB: the pod, and every
request on it, would be evicted), and refused requests cost nothing to send again. Now each
upload reserves its declared size against a budget of bytes in flight per pod and per tenant
before a byte of its body is read (kscribe/tenancy/upload_budget.py), and one over either budget is
refused at once, without reading its body.

Reproduced at a smaller scale on an api of its own (budgets of a few MiB, several threads so
uploads really are concurrent): held-open uploads that send only part of their bodies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kscribe.tenancy.apikeys import ApiKeys
from kscribe.tenancy.upload_budget import OverBudget, UploadBudget
from tests import redis_servers
from tests.conftest import ROOT, stop_process, wait_for
from tests.functional.conftest import CaptureSink
from tests.stack import free_port

MIB = 1024**2
POD_BUDGET, TENANT_BUDGET = 3 * MIB, 2 * MIB
UPLOAD = int(1.5 * MIB)  # what each held upload declares
ROUTE = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def api(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("budget")
    redis_server = redis_servers.started(request, tmp / "api.rdb")
    sink = CaptureSink()
    request.addfinalizer(sink.close)
    port, internal_port = free_port(), free_port()
    scratch = tmp / "scratch"
    env = {
        **os.environ,
        "KSCRIBE_DATA_DIR": str(tmp / "data"),
        "KSCRIBE_SCRATCH_DIR": str(scratch),
        "REDIS_URL": f"unix://{redis_server.socket_file}",
        "K_SINK": sink.url,
        "KSCRIBE_INTERNAL_PORT": str(internal_port),
        "KSCRIBE_API_RATE_PER_MINUTE": "100000",
        "KSCRIBE_API_UPLOAD_BUDGET_BYTES": str(POD_BUDGET),
        "KSCRIBE_API_TENANT_UPLOAD_BUDGET_BYTES": str(TENANT_BUDGET),
        "THREADS": "8",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = open(tmp / "api.log", "w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "functions" / "http_server.py"), "--source", str(ROOT / "functions" / "api.py")]
        + ["--target", "api", "--port", str(port)],
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
    yield {"url": url, "port": port, "keys": keys, "scratch": scratch}


def _token(api, tenant: str) -> str:
    return api["keys"].create(tenant)[0]


def _start_upload(api, token: str, size: int = UPLOAD) -> socket.socket:
    """An upload that declares ``size`` bytes and sends only its first 64 KiB (held open)."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    s = socket.create_connection(("127.0.0.1", api["port"]), timeout=30)
    s.sendall(
        (
            f"POST {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        + head
        + b"\0" * (64 * 1024)
    )
    return s


def _answer(s: socket.socket, timeout_s: float = 10) -> str:
    """The whole response: its head, then the Content-Length bytes of its body."""
    s.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data and (piece := s.recv(4096)):
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length and (piece := s.recv(4096)):
        body += piece
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def _scratch_bytes(api) -> int:
    root = api["scratch"]
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0


def _no_answer_yet(s: socket.socket) -> bool:
    """True while the api is still reading the upload (no answer, connection open)."""
    s.settimeout(0.5)
    try:
        s.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    return False


def test_concurrent_uploads_stay_within_the_pod_and_tenant_budgets(api):
    acme, globex, initech = _token(api, "acme"), _token(api, "globex"), _token(api, "initech")
    held = [_start_upload(api, acme)]
    try:
        wait_for(lambda: _scratch_bytes(api) > 0, timeout_s=20)
        assert _no_answer_yet(held[0]), "the first upload is being received"
        # The same tenant again: over its own budget, refused before its body is read.
        second = _start_upload(api, acme)
        answer = _answer(second)
        second.close()
        assert answer.startswith("HTTP/1.1 429") and "too_many_uploads" in answer, answer
        # Another tenant fits in the pod's budget...
        held.append(_start_upload(api, globex))
        wait_for(lambda: _scratch_bytes(api) > 64 * 1024, timeout_s=20)
        assert _no_answer_yet(held[1])
        # ...a third does not: the pod is at its budget whoever asks.
        third = _start_upload(api, initech)
        answer = _answer(third)
        third.close()
        assert answer.startswith("HTTP/1.1 503") and "too_many_uploads" in answer, answer
        assert "Retry-After" in answer
        assert _scratch_bytes(api) <= POD_BUDGET
    finally:
        for s in held:
            s.close()

    # Given back once the uploads are gone: a new one is received again.
    def accepted():
        s = _start_upload(api, initech)
        try:
            return _no_answer_yet(s)
        finally:
            s.close()

    wait_for(accepted, timeout_s=30, interval_s=0.2)


def test_the_budget_counts_per_tenant_and_per_pod():
    budget = UploadBudget(pod_bytes=10, tenant_bytes=6)
    with budget.hold("acme", 6):
        with pytest.raises(OverBudget) as refused:
            budget.take("acme", 1)
        assert refused.value.whose == "tenant" and budget.in_flight("acme") == 6
        budget.take("globex", 4)
        with pytest.raises(OverBudget) as refused:
            budget.take("initech", 1)
        assert refused.value.whose == "pod" and budget.in_flight() == 10
        budget.give_back("globex", 4)
    assert budget.in_flight() == 0 and budget.in_flight("acme") == 0
