"""Finding N10: ten unauthenticated sockets sending their headers a byte at a time made the
local api unresponsive: each held one of the function's threads while its headers trickled
in, with no deadline. The api now runs under functions/http_server.py: headers are awaited
off the function's threads and a connection that has not sent them in time is closed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_for
from tests.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 2


def _slow_sockets(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that start a request and never finish its headers."""
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        sockets.append(s)
    return sockets


def _answers_quickly(url: str) -> float:
    started = time.monotonic()
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    return time.monotonic() - started


@pytest.fixture
def one_thread_server(tmp_path):
    """A function served by functions/http_server.py with one thread, as the security stack
    runs; it reads a POST's body (as the api does once the key is checked)."""
    source = tmp_path / "hello.py"
    source.write_text(
        "import functions_framework\n\n\n@functions_framework.http\ndef hello(request):\n"
        "    if request.method == 'POST':\n        request.get_data()\n    return 'hello'\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "functions" / "http_server.py"), "--source", str(source), "--target", "hello"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env={
            "PATH": "/usr/bin:/bin",
            "THREADS": "1",
            "KSCRIBE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S),
            "KSCRIBE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_S),
        },
    )
    url = f"http://127.0.0.1:{port}/"

    def up():
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout_s=30, interval_s=0.1)
        yield port, url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_slow_header_sockets_do_not_block_others(one_thread_server):
    port, url = one_thread_server
    slow = _slow_sockets(port, 10)
    try:
        # The finding: with every thread held, this request waited for ever.
        for _ in range(3):
            assert _answers_quickly(url) < 1.0
        # One byte more on each, well inside the deadline: still nobody waits.
        for s in slow:
            s.sendall(b"b")
        assert _answers_quickly(url) < 1.0
    finally:
        for s in slow:
            s.close()


def test_a_connection_without_its_headers_in_time_is_closed(one_thread_server):
    port, url = one_thread_server
    (s,) = _slow_sockets(port, 1)
    with s:
        started = time.monotonic()
        s.settimeout(HEADER_TIMEOUT_S + 10)
        assert s.recv(1024) == b"", "closed without an answer"
        assert HEADER_TIMEOUT_S - 1 <= time.monotonic() - started <= HEADER_TIMEOUT_S + 5


def test_complete_requests_and_keep_alive_still_work(one_thread_server):
    port, url = one_thread_server
    with requests.Session() as session:
        for _ in range(5):
            r = session.get(url, timeout=5)
            assert r.status_code == 200 and r.text == "hello"
    # A request whose headers come in pieces, all before the deadline, is answered.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for piece in (b"GET / HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            s.sendall(piece)
            time.sleep(0.2)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello"), answer


def test_more_slow_sockets_than_header_readers_delay_nobody(one_thread_server):
    """Review of N10: headers were awaited on a pool of 128 blocking readers, each slow socket
    holding one until its deadline, which ran only once a reader took it: a request queued
    behind 400 slow sockets waited three deadlines (8.5 s with a 3 s deadline; about 80 s for
    gunicorn's 1000 connections at the default 10 s), and with deadlines from arrival it was
    still dropped now and then. One selector thread now watches every such connection."""
    port, url = one_thread_server
    slow = _slow_sockets(port, 400)
    try:
        for _ in range(3):
            assert _answers_quickly(url) < 1.0
    finally:
        for s in slow:
            s.close()


def test_a_body_that_never_comes_holds_a_thread_only_until_its_deadline(one_thread_server):
    """Review of N10: once its headers were in, a connection read its body with no deadline at
    all. Any tenant (the api reads a body once the key is checked) held one of the function's
    threads for ever per request that announced a body and sent none: eight held every thread
    of the local api. Now a socket silent for ``KSCRIBE_BODY_TIMEOUT_SECONDS`` (nginx's 60 s by
    default) is given up, reading or writing."""
    port, url = one_thread_server
    with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
        silent.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        started = time.monotonic()
        r = requests.get(url, timeout=BODY_TIMEOUT_S + 10)
        assert r.status_code == 200
        # The silent body's deadline, then gunicorn's bounded drain of what is left of it.
        assert time.monotonic() - started < 2 * BODY_TIMEOUT_S + 3
