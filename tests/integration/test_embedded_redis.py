"""The embedded redis-server: started on demand, shared, stopped by the last process out."""

import os
import subprocess
import sys
import time

from tests.conftest import wait_for

HOLD = """
import sys, time
from pathlib import Path
from kscribe.state.redis import embedded
client = embedded(Path(sys.argv[1]))
client.set("from-" + sys.argv[2], "1")
print("ready", flush=True)
sys.stdin.readline()  # hold the connection until told to leave
"""


def server_running(directory) -> bool:
    found = subprocess.run(["pgrep", "-f", f"redis-server.*{directory}"], capture_output=True)
    return found.returncode == 0


def test_processes_share_one_server_and_the_last_one_stops_it(tmp_path):
    directory = tmp_path / "redis"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory), "a"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert first.stdout.readline().strip() == "ready"
    second = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory), "b"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert second.stdout.readline().strip() == "ready"
    assert len(list(directory.glob("redis.sock"))) == 1
    started = time.monotonic()
    first.communicate("\n", timeout=15)  # the owner leaves first, while "b" still uses it
    assert time.monotonic() - started < 5, "leaving must not wait for a server still in use"
    assert server_running(directory)
    second.communicate("\n", timeout=15)
    wait_for(lambda: not server_running(directory), timeout_s=10)
    assert (directory / "kscribe.rdb").exists(), "the last one out saves the data"

    again = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from kscribe.state.redis import embedded; "
            "print(sorted(embedded(Path(sys.argv[1])).keys('from-*')))",
            str(directory),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert again.stdout.strip() == "['from-a', 'from-b']", again.stderr
