"""Finding N6: the local supervisor's control port took any request — a page in the
developer's browser could restart or kill the stack's processes with a cross-site, body-less
POST (any Host, any Origin). Now each request needs the token the supervisor wrote to a file
only its user reads, and requests carrying a web page's marks are refused even with it."""

from __future__ import annotations

import sys

import pytest
import requests

from kscribe_stack.supervisor import Control, Supervisor, read_procfile, serve_control, token_path
from tests.stack import free_port


@pytest.fixture
def control(tmp_path, monkeypatch):
    monkeypatch.setenv("KSCRIBE_SUPERVISOR_TOKEN_DIR", str(tmp_path / "tokens"))
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"steady: {sys.executable} -c 'import time; time.sleep(600)'\n")
    out = open(tmp_path / "out.log", "w")
    supervisor = Supervisor(read_procfile(procfile), {}, tmp_path, out)
    supervisor.start_all()
    port = free_port()
    server = serve_control(supervisor, port)
    try:
        yield supervisor, port
    finally:
        server.shutdown()
        server.server_close()
        supervisor.shutdown()
        out.close()


def test_the_token_file_is_the_users_alone(control):
    _, port = control
    path = token_path(port)
    assert path.stat().st_mode & 0o077 == 0, oct(path.stat().st_mode)
    assert len(path.read_text().strip()) >= 40


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the finding's request: a body-less POST, nothing else
        {"Origin": "https://evil.example"},
        {"Host": "evil.example:80"},  # DNS rebinding: a page's own name pointed at 127.0.0.1
        {"Authorization": "Bearer wrong"},
    ],
)
def test_cross_site_and_tokenless_requests_are_refused(control, headers):
    supervisor, port = control
    pid = supervisor.status()["steady"]["pid"]
    for method, path in (("POST", "/kill/steady"), ("POST", "/stop/steady"), ("GET", "/status")):
        r = requests.request(method, f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)
        assert r.status_code == 403, (method, path, headers, r.status_code, r.text)
    assert supervisor.status()["steady"]["pid"] == pid and supervisor.status()["steady"]["state"] == "running"


def test_the_token_does_not_help_a_web_page(control):
    supervisor, port = control
    token = token_path(port).read_text().strip()
    pid = supervisor.status()["steady"]["pid"]
    for headers in (
        {"Origin": f"http://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Host": f"rebound.example:{port}"},
    ):
        r = requests.post(
            f"http://127.0.0.1:{port}/kill/steady", headers={"Authorization": f"Bearer {token}", **headers}, timeout=10
        )
        assert r.status_code == 403, (headers, r.text)
    assert supervisor.status()["steady"]["pid"] == pid


def test_the_cli_and_tests_still_control_it(control):
    supervisor, port = control
    ctl = Control(f"http://127.0.0.1:{port}")
    before = ctl.status()["steady"]["pid"]
    assert ctl.restart("steady")["pid"] != before
