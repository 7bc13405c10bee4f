"""The local stack's supervisor with real processes: restarts one that dies, gives up on one
that keeps dying at start-up and says so, and stops, starts, restarts or kills one on request
(from Python and over its loopback control server) while the others keep running."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from kscribe_stack.supervisor import Control, Supervisor, read_procfile, serve_control, tree_memory
from tests.conftest import wait_for
from tests.stack import free_port


@pytest.fixture
def supervisor(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"# a comment\nsteady: {sys.executable} -c 'import time; time.sleep(600)'\ncrashy: echo boom $WORD; exit 3\n"
    )
    out = open(tmp_path / "out.log", "w")
    s = Supervisor(
        read_procfile(procfile), {"WORD": "here"}, tmp_path, out, stable_s=5, backoff_s=(0.05, 0.1), max_quick_exits=3
    )
    s.log = tmp_path / "out.log"
    s.start_all()
    yield s
    s.shutdown()
    out.close()


def test_gives_up_on_a_crash_loop_and_keeps_the_others(supervisor):
    wait_for(lambda: supervisor.status()["crashy"]["state"] == "gave-up", timeout_s=10)
    status = supervisor.status()
    assert status["crashy"]["crashes"] == 3 and status["crashy"]["last_exit"] == 3
    assert status["steady"]["state"] == "running" and status["steady"]["restarts"] == 0
    log = supervisor.log.read_text()
    assert log.count("crashy | boom here") == 3, "the env file's settings reach the command"
    assert "crashy exited 3 times in a row within 5 s of starting (last exit 3): giving up" in log


def test_kill_stop_start_restart_one_process(supervisor):
    first = supervisor.status()["steady"]["pid"]
    supervisor.kill("steady")
    wait_for(lambda: supervisor.status()["steady"]["pid"] not in (None, first), timeout_s=10)
    status = supervisor.status()["steady"]
    assert status["state"] == "running" and status["restarts"] == 1 and status["crashes"] == 0
    assert status["last_exit"] == -signal.SIGKILL
    assert status["peak_rss_bytes"] > 0

    supervisor.stop("steady")
    assert supervisor.status()["steady"]["state"] == "stopped" and supervisor.status()["steady"]["pid"] is None
    supervisor.start("steady")
    assert supervisor.status()["steady"]["state"] == "running"

    port = free_port()
    server = serve_control(supervisor, port)
    try:
        control = Control(f"http://127.0.0.1:{port}")
        before = control.status()["steady"]["pid"]
        after = control.restart("steady")
        assert after["state"] == "running" and after["pid"] != before
        assert control.kill("steady", "TERM")["state"] == "killed"
        wait_for(lambda: control.status()["steady"]["state"] == "running", timeout_s=10)
        with pytest.raises(RuntimeError, match="404"):
            control.restart("nonesuch")
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_one_pass_over_proc_measures_each_session_apart(tmp_path):
    """Each process's memory is its own session's: a tree holding 64 MiB more than another
    shows it, and a session with no process left is zero."""
    hold = "import time; b = bytearray({size}); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); time.sleep(60)"
    small, large = (
        subprocess.Popen([sys.executable, "-c", hold.format(size=size)], start_new_session=True, stdout=subprocess.PIPE)
        for size in (1, 64 * 2**20)
    )
    gone = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    gone.wait()
    try:
        assert small.stdout.readline() and large.stdout.readline()  # both hold their memory now
        memory = tree_memory([small.pid, large.pid, gone.pid])
        assert memory[gone.pid] == (0, 0)
        assert 0 < memory[small.pid][0] <= memory[small.pid][1]
        assert memory[large.pid][0] - memory[small.pid][0] >= 60 * 2**20
    finally:
        for p in (small, large):
            p.kill()
            p.wait()
            p.stdout.close()
