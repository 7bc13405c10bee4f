"""The local multi-process stack from the Procfile, started for tests under the stack's
supervisor: every function its own functions-framework process, the broker, Redis and the GCS
emulator, on free loopback ports; ``Stack.control`` stops, starts, restarts or kills one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests
from google.cloud import storage

from kscribe_stack.supervisor import STOP_GRACE_S, Control
from tests.conftest import ROOT, wait_for

PORTS = [
    "REDIS",
    "GCS",
    "BROKER",
    "INGEST",
    "EXTRACT",
    "TRANSCRIBE",
    "PUBLISH",
    "NOTIFY",
    "DEAD_LETTER",
    "API",
    "RECONCILE",
    "DIARIZE",
]
CALLBACK_SECRET = "test-callback-secret"


def free_port() -> int:
    return free_ports(1)[0]


# Under xdist each worker takes a range of 1000 ports of its own from there (gw0, gw1, ...).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_FIRST_PORT = int(os.environ.get("KSCRIBE_STACK_FIRST_PORT") or 0)
_next_port = _FIRST_PORT + 1000 * _WORKER if _FIRST_PORT else 0


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (each socket held open until all are chosen): the
    system's choice, or with KSCRIBE_STACK_FIRST_PORT the next free ones from that port on
    (runs side by side, each in a range of its own)."""
    global _next_port
    if _next_port:
        chosen: list[int] = []
        while len(chosen) < count:
            port, _next_port = _next_port, _next_port + 1
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            chosen.append(port)
        return chosen
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Stack:
    """``env`` adds to (or overrides) the stack's settings, as lines in its .env would;
    ``extra_ports`` names more ports to choose, set as ``KSCRIBE_<NAME>_PORT``."""

    def __init__(
        self, tmp: Path, broker_args: str = "", env: dict[str, str] | None = None, extra_ports: tuple[str, ...] = ()
    ):
        ports = dict(zip([*PORTS, *extra_ports], free_ports(len(PORTS) + len(extra_ports))))
        self.env = {f"KSCRIBE_{name}_PORT": str(port) for name, port in ports.items()}
        self.env.update(
            KSCRIBE_DATA_DIR=str(tmp / "stack"),
            KSCRIBE_BROKER_ARGS=broker_args,
            REDIS_URL=f"redis://127.0.0.1:{ports['REDIS']}/0",
            STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{ports['GCS']}",
            K_SINK=f"http://127.0.0.1:{ports['BROKER']}",
            KSCRIBE_INGEST_URL=f"http://127.0.0.1:{ports['INGEST']}",
            KSCRIBE_INPUT_URI="gs://kscribe-input",
            KSCRIBE_WORK_URI="gs://kscribe-work",
            KSCRIBE_OUTPUT_URI="gs://kscribe-output",
            KSCRIBE_CHUNK_SECONDS="10",
            PYTHONUNBUFFERED="1",
            KSCRIBE_CALLBACK_SECRET=CALLBACK_SECRET,
            KSCRIBE_CALLBACK_ALLOW="127.0.0.1",
            KSCRIBE_CALLBACK_BACKOFF_SECONDS="0.2",
            KSCRIBE_PUBLIC_URL=f"http://127.0.0.1:{ports['API']}",
        )
        self.env.update(env or {})
        self.url = {name.lower(): f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.env_file = env_file = tmp / "stack.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.process_env = {
            **os.environ,
            **self.env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        self.log = open(tmp / "stack.log", "w")
        self.control_port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kscribe_stack.supervisor",
                "-e",
                str(env_file),
                "--control-port",
                str(self.control_port),
                "run",
                "-f",
                str(ROOT / "Procfile"),
                "-d",
                str(ROOT),
            ],
            env=self.process_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.control = Control(f"http://127.0.0.1:{self.control_port}")
        self.log_path = tmp / "stack.log"
        # Where `submit` copies a job's outputs: its default, out/ under the working
        # directory, would leave them in the checkout.
        self.downloads = tmp / "out"
        urls = [f"http://127.0.0.1:{ports[n]}/health/live" for n in PORTS[3:]]
        urls += [f"http://127.0.0.1:{ports['BROKER']}/health", f"http://127.0.0.1:{ports['GCS']}/storage/v1/b"]
        try:
            wait_for(lambda: all(self._up(u) for u in urls), timeout_s=90, interval_s=0.3)
            self.redis = redis.Redis.from_url(self.env["REDIS_URL"], decode_responses=True)
            wait_for(lambda: self._buckets_ready(), timeout_s=30)
        except BaseException:
            self.stop()
            raise

    def _up(self, url: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the stack exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def _buckets_ready(self) -> bool:
        return "kscribe-output" in requests.get(self.env["STORAGE_EMULATOR_HOST"] + "/storage/v1/b").text

    def kscribe(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        # `submit` is the local stack's command (python -m kscribe_stack), the rest kscribe's.
        submit = args[:1] == ("submit",)
        module = "kscribe_stack" if submit else "kscribe"
        if submit and "--out" not in args:
            args = (*args[:1], "--out", str(self.downloads), *args[1:])
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.process_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def storage(self) -> storage.Client:
        os.environ["STORAGE_EMULATOR_HOST"] = self.env["STORAGE_EMULATOR_HOST"]
        return storage.Client()

    def stop(self) -> None:
        """Stop the supervisor, which stops every process; then whatever is left of them.

        The supervisor may take up to twice its grace per process (SIGTERM, then SIGKILL and
        the group's end), and is waited for that long: killed sooner, it left processes that
        a child had started (the emulator's server, gunicorn's workers) running."""
        if self.process.poll() is None:
            groups = self._process_groups()
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=2 * STOP_GRACE_S + 10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            for group in groups:  # each supervised process leads a session of its own
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()

    def _process_groups(self) -> list[int]:
        try:
            return [p["pid"] for p in self.control.status().values() if p["pid"]]
        except (OSError, RuntimeError):  # the control port is gone with the supervisor
            return []


@pytest.fixture
def stack_factory(tmp_path):
    stacks = []

    def start(broker_args: str = "", env: dict[str, str] | None = None) -> Stack:
        stacks.append(Stack(tmp_path, broker_args, env))
        return stacks[-1]

    yield start
    for s in stacks:
        s.stop()


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples in a Prometheus exposition whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
    return total
