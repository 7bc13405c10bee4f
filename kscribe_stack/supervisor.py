"""A small supervisor for the local stack: starts every Procfile process, restarts one that
dies (with backoff, and gives up on one that keeps dying at start-up, saying so), and lets a
person or a test stop, start, restart or kill one process while the others keep running.

    python -m kscribe_stack.supervisor run -f Procfile -e .env      # what `make stack` runs
    python -m kscribe_stack.supervisor restart extract              # from another terminal
    python -m kscribe_stack.supervisor status

The control server listens on 127.0.0.1 only (``--control-port``, default the env file's
``KSCRIBE_SUPERVISOR_PORT``): ``GET /status``, ``POST /<action>/<name>`` with action one of
stop, start, restart, kill (``?signal=TERM``; the default is KILL, and the supervisor then
restarts the process as it would after a crash). :class:`Control` is the same from Python.
Every request needs ``Authorization: Bearer <token>``, the token the supervisor writes at
start to a file only its user can read (``token_path``); a request whose ``Host`` is not the
loopback address and port, or that carries an ``Origin`` (a web page's), is refused: a page
in the developer's browser can neither forge nor read control requests.

Each process runs in a session of its own (``sh -c <command>``), so a signal reaches
its whole tree (gunicorn's workers, fake-gcs-server under its wrapper) and nothing else.
Development only: production restarts are Kubernetes'.
"""

from __future__ import annotations

import argparse
import ctypes
import hmac
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

STABLE_S = 10.0  # a process that ran this long before exiting was not crash-looping
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # delay before the 1st, 2nd, ... restart in a row
MAX_QUICK_EXITS = 5  # this many exits in a row, each within STABLE_S of its start: give up
STOP_GRACE_S = 10.0


def read_procfile(path: Path) -> dict[str, str]:
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip("'\"")
    return env


def _die_with_parent() -> None:
    """In the child: be killed if the supervisor dies without stopping it (Linux)."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def tree_memory(sessions: Collection[int]) -> dict[int, tuple[int, int]]:
    """Per session in ``sessions``: (RSS now, sum of each process's peak RSS) in bytes over
    its processes. One pass over /proc for all of them: the sampler runs twice a second and
    a pass per process cost a stack several percent of a core on a busy machine."""
    found = {session: (0, 0) for session in sessions}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the ")" that ends the command name: state ppid pgrp session ...
            session = int(stat.rsplit(")", 1)[1].split()[3])
            if session not in found:
                continue
            rss, peak = found[session]
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) * 1024
            found[session] = (rss, peak)
        except (OSError, IndexError, ValueError):
            continue
    return found


@dataclass
class Process:
    name: str
    command: str
    state: str = "stopped"  # starting → running; stopped (on request); backoff; gave-up
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0  # starts after the first, whatever the cause
    crashes: int = 0  # exits nobody asked for
    quick_exits: int = 0  # consecutive exits within STABLE_S of starting
    last_exit: int | None = None
    peak_rss: int = 0  # the largest tree_memory()[1] seen, across restarts
    expected_exit: bool = False
    restart_timer: threading.Timer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Supervisor:
    def __init__(
        self,
        processes: dict[str, str],
        env: dict[str, str],
        cwd: Path,
        out: TextIO = sys.stdout,
        stable_s: float = STABLE_S,
        backoff_s: tuple[float, ...] = BACKOFF_S,
        max_quick_exits: int = MAX_QUICK_EXITS,
    ):
        self.processes = {name: Process(name, command) for name, command in processes.items()}
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.out = out
        self.stable_s, self.backoff_s, self.max_quick_exits = stable_s, backoff_s, max_quick_exits
        self.width = max(map(len, processes), default=6) + 1
        self._out_lock = threading.Lock()
        self._closing = False
        self._spawns: queue.Queue = queue.Queue()
        threading.Thread(target=self._spawner, daemon=True, name="spawner").start()

    # -- the Python API ------------------------------------------------------------------
    def start_all(self) -> None:
        for name in self.processes:
            self.start(name)
        threading.Thread(target=self._sample_memory, daemon=True, name="memory").start()

    def start(self, name: str) -> None:
        """Start ``name`` if it is not running (also after it was given up on)."""
        p = self._get(name)
        with p.lock:
            if p.popen is not None and p.popen.poll() is None:
                return
            if p.restart_timer:
                p.restart_timer.cancel()
                p.restart_timer = None
            if p.state == "gave-up":
                p.quick_exits = 0
            self._spawn(p)

    def stop(self, name: str, timeout_s: float = STOP_GRACE_S) -> None:
        """Stop ``name`` (SIGTERM, then SIGKILL after ``timeout_s``) and keep it stopped."""
        p = self._get(name)
        with p.lock:
            if p.restart_timer:
                p.restart_timer.cancel()
                p.restart_timer = None
            popen = p.popen
            p.state = "stopped"
            p.expected_exit = True
        if popen is not None:
            if popen.poll() is None:
                self._signal(popen, signal.SIGTERM)
                try:
                    popen.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal(popen, signal.SIGKILL)
                    popen.wait()
            # Stopped means the whole group is gone: a server's worker processes can outlive
            # its master by seconds, still answering requests.
            if not self._group_gone(popen, timeout_s):
                self._signal(popen, signal.SIGKILL)
                self._group_gone(popen, timeout_s)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process's whole tree, as the kernel or an operator might; the
        supervisor restarts it as after any unrequested exit (without counting a crash)."""
        p = self._get(name)
        with p.lock:
            popen = p.popen
            if popen is None or popen.poll() is not None:
                raise ValueError(f"{name} is not running")
            p.expected_exit = True
            p.state = "killed"
        self._signal(popen, sig)

    def status(self) -> dict[str, dict]:
        result = {}
        memory = tree_memory(self._running_sessions())
        for p in self.processes.values():
            popen = p.popen
            running = popen is not None and popen.poll() is None
            rss, peak = memory.get(popen.pid, (0, 0)) if popen is not None and running else (0, 0)
            p.peak_rss = max(p.peak_rss, peak)
            result[p.name] = {
                "state": p.state,
                "pid": popen.pid if popen is not None and running else None,
                "uptime_s": round(time.monotonic() - p.started_at, 1) if running else 0,
                "restarts": p.restarts,
                "crashes": p.crashes,
                "last_exit": p.last_exit,
                "rss_bytes": rss,
                "peak_rss_bytes": p.peak_rss,
            }
        return result

    def shutdown(self) -> None:
        self._closing = True
        threads = [threading.Thread(target=self.stop, args=(name,)) for name in self.processes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # -- internals -----------------------------------------------------------------------
    def _get(self, name: str) -> Process:
        if name not in self.processes:
            raise KeyError(f"no process {name!r} (have: {', '.join(self.processes)})")
        return self.processes[name]

    @staticmethod
    def _group_gone(popen: subprocess.Popen, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(popen.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            time.sleep(0.05)
        return False

    @staticmethod
    def _signal(popen: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(popen.pid, sig)
        except ProcessLookupError:
            pass

    def say(self, name: str, line: str) -> None:
        with self._out_lock:
            try:
                self.out.write(f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)}| {line}\n")
                self.out.flush()
            except (OSError, ValueError):  # the output is gone (closed, or a broken pipe)
                pass

    def _spawn(self, p: Process) -> None:
        if p.started_at:
            p.restarts += 1
        # The parent-death signal fires when the *thread* that forked exits, so every child
        # is forked by one thread that lives as long as the supervisor.
        spawned: Future[subprocess.Popen] = Future()
        self._spawns.put((spawned, p.command))
        p.popen = spawned.result()
        p.started_at = time.monotonic()
        p.state = "running"
        p.expected_exit = False
        self.say("supervisor", f"started {p.name} (pid {p.popen.pid})")
        threading.Thread(target=self._follow, args=(p, p.popen), daemon=True, name=f"follow-{p.name}").start()

    def _spawner(self) -> None:
        while True:
            spawned, command = self._spawns.get()
            try:
                spawned.set_result(
                    subprocess.Popen(
                        ["/bin/sh", "-c", command],
                        cwd=self.cwd,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_parent,
                    )
                )
            except BaseException as exc:
                spawned.set_exception(exc)

    def _follow(self, p: Process, popen: subprocess.Popen) -> None:
        if popen.stdout is not None:  # started with stdout=PIPE
            for raw in popen.stdout:
                self.say(p.name, raw.decode(errors="replace").rstrip("\n"))
            popen.stdout.close()
        code = popen.wait()
        with p.lock:
            if p.popen is not popen:
                return
            p.last_exit = code
            ran_s = time.monotonic() - p.started_at
            if self._closing or p.state == "stopped":
                self.say("supervisor", f"{p.name} stopped (exit {code})")
                return
            if p.expected_exit:  # killed on request: back at once, no crash counted
                self.say("supervisor", f"{p.name} killed (exit {code}); restarting")
                self._spawn(p)
                return
            p.crashes += 1
            p.quick_exits = p.quick_exits + 1 if ran_s < self.stable_s else 1
            if p.quick_exits >= self.max_quick_exits:
                p.state = "gave-up"
                self.say(
                    "supervisor",
                    f"{p.name} exited {p.quick_exits} times in a row within "
                    f"{self.stable_s:g} s of starting (last exit {code}): giving up on it; "
                    f"fix it and run `python -m kscribe_stack.supervisor start {p.name}`",
                )
                return
            delay = self.backoff_s[min(p.quick_exits - 1, len(self.backoff_s) - 1)]
            p.state = "backoff"
            self.say("supervisor", f"{p.name} exited with {code} after {ran_s:.1f} s; restarting in {delay:g} s")
            p.restart_timer = threading.Timer(delay, self._restart_after_backoff, args=(p,))
            p.restart_timer.daemon = True
            p.restart_timer.start()

    def _restart_after_backoff(self, p: Process) -> None:
        with p.lock:
            if p.state == "backoff" and not self._closing:
                p.restart_timer = None
                self._spawn(p)

    def _sample_memory(self) -> None:
        """Peak RSS survives a restart only if sampled before it: look twice a second."""
        while not self._closing:
            memory = tree_memory(self._running_sessions())
            for p in self.processes.values():
                popen = p.popen
                if popen is not None and popen.pid in memory:
                    p.peak_rss = max(p.peak_rss, memory[popen.pid][1])
            time.sleep(0.5)

    def _running_sessions(self) -> list[int]:
        """Each running process's session id: its pid (each is started in a session of its own)."""
        sessions = []
        for p in self.processes.values():
            popen = p.popen
            if popen is not None and popen.poll() is None:
                sessions.append(popen.pid)
        return sessions


def token_path(port: int) -> Path:
    """Where the control server on ``port`` keeps its token (``KSCRIBE_SUPERVISOR_TOKEN_DIR``,
    else ``~/.cache/kscribe``)."""
    base = os.environ.get("KSCRIBE_SUPERVISOR_TOKEN_DIR") or str(Path.home() / ".cache" / "kscribe")
    return Path(base) / f"supervisor-{port}.token"


def _write_token(port: int) -> str:
    token = secrets.token_urlsafe(32)
    path = token_path(port)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


def serve_control(supervisor: Supervisor, port: int) -> ThreadingHTTPServer:
    """The control server, on loopback only, for holders of its token (``token_path``)."""
    actions = {"stop": supervisor.stop, "start": supervisor.start, "restart": supervisor.restart}
    token = _write_token(port)
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    class Handler(BaseHTTPRequestHandler):
        def _refused(self) -> bool:
            """Answer 403 (and True) unless the request is the token holder's, from this host."""
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if (
                self.headers.get("Host", "") not in hosts
                or self.headers.get("Origin") is not None
                or self.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin")
                or not hmac.compare_digest(given.encode(), token.encode())
            ):
                self._answer(403, {"error": "control needs the supervisor's token, from this host"})
                return True
            return False

        def _answer(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self._refused():
                return
            if self.path in ("/status", "/"):
                self._answer(200, supervisor.status())
            else:
                self._answer(404, {"error": "GET /status"})

        def do_POST(self):
            if self._refused():
                return
            path, _, query = self.path.partition("?")
            parts = path.strip("/").split("/")
            if len(parts) != 2 or parts[0] not in (*actions, "kill"):
                self._answer(404, {"error": "POST /stop|start|restart|kill/<name>"})
                return
            action, name = parts
            try:
                if action == "kill":
                    sig = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("signal", "KILL")
                    supervisor.kill(name, signal.Signals[f"SIG{sig.upper().removeprefix('SIG')}"])
                else:
                    actions[action](name)
            except KeyError as exc:
                self._answer(404, {"error": str(exc)})
                return
            except ValueError as exc:
                self._answer(409, {"error": str(exc)})
                return
            supervisor.say("supervisor", f"{action} {name} (control)")
            self._answer(200, supervisor.status()[name])

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="control").start()
    return server


class Control:
    """The supervisor's control server from Python (tests, scripts)."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url.rstrip("/")
        self.token = token

    def _token(self) -> str:
        """The server's token, read from its file (written when the server started)."""
        if self.token is None:
            port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
            self.token = token_path(port).read_text().strip()
        return self.token

    def _call(self, method: str, path: str, timeout_s: float = 30) -> dict:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=b"" if method == "POST" else None,
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                answer: dict = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"supervisor: {exc.code} {exc.read().decode(errors='replace')}") from exc

    def status(self) -> dict[str, dict]:
        return self._call("GET", "/status")

    def stop(self, name: str) -> dict:
        return self._call("POST", f"/stop/{name}")

    def start(self, name: str) -> dict:
        return self._call("POST", f"/start/{name}")

    def restart(self, name: str) -> dict:
        return self._call("POST", f"/restart/{name}")

    def kill(self, name: str, sig: str = "KILL") -> dict:
        return self._call("POST", f"/kill/{name}?signal={sig}")


def _announce_page(supervisor: Supervisor, port: int, done: threading.Event) -> None:
    """Once the api answers, say where the page is: the one line a newcomer needs."""
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while not done.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "health/live", timeout=2):
                supervisor.say("supervisor", f"ready: open {url} and sign in with a key from `make keys TENANT=you`")
                return
        except OSError:
            done.wait(0.5)


def _run(args: argparse.Namespace) -> int:
    env = read_env_file(args.env_file) if args.env_file.is_file() else {}
    supervisor = Supervisor(read_procfile(args.procfile), env, args.directory)
    port = args.control_port or int(env.get("KSCRIBE_SUPERVISOR_PORT") or 0)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if port:
        serve_control(supervisor, port)
        supervisor.say(
            "supervisor", f"control on http://127.0.0.1:{port} (python -m kscribe_stack.supervisor restart NAME)"
        )
    supervisor.start_all()
    if api_port := env.get("KSCRIBE_API_PORT"):
        threading.Thread(target=_announce_page, args=(supervisor, int(api_port), done), daemon=True).start()
    done.wait()
    supervisor.say("supervisor", "stopping every process")
    supervisor.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kscribe_stack.supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("-e", "--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--control-port", type=int, default=0, help="default: KSCRIBE_SUPERVISOR_PORT in the env file")
    sub = parser.add_subparsers(dest="action")
    run = sub.add_parser("run", help="start every process of the Procfile and keep them running")
    run.add_argument("-f", "--procfile", type=Path, default=Path("Procfile"))
    run.add_argument("-d", "--directory", type=Path, default=Path.cwd())
    sub.add_parser("status", help="each process: state, pid, restarts, memory")
    for action in ("stop", "start", "restart", "kill"):
        p = sub.add_parser(action, help=f"{action} one process")
        p.add_argument("name")
        if action == "kill":
            p.add_argument("--signal", default="KILL")
    args = parser.parse_args(argv)
    if args.action in (None, "run"):
        if args.action is None:
            args.procfile, args.directory = Path("Procfile"), Path.cwd()
        return _run(args)
    env = read_env_file(args.env_file) if args.env_file.is_file() else {}
    port = args.control_port or int(env.get("KSCRIBE_SUPERVISOR_PORT") or 0)
    if not port:
        parser.error("no control port: pass --control-port or set KSCRIBE_SUPERVISOR_PORT in the env file")
    control = Control(f"http://127.0.0.1:{port}")
    try:
        if args.action == "status":
            result = control.status()
            for name, s in result.items():
                print(
                    f"{name:12} {s['state']:8} pid {s['pid'] or '-':>7}  up {s['uptime_s']:>7} s  "
                    f"restarts {s['restarts']}  crashes {s['crashes']}  rss {s['rss_bytes'] / 2**20:.0f} MiB"
                )
            return 0
        result = (
            control.kill(args.name, args.signal) if args.action == "kill" else getattr(control, args.action)(args.name)
        )
    except (RuntimeError, OSError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: {result['state']} (pid {result['pid']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
