"""What every chaos scenario shares: the stack and its tenant, creating jobs, and observing
them to a table row (terminal within a bound, one set of outputs, transcripts as undisturbed,
clear failure reasons, no crash loop, scratch space back to where it started)."""

from __future__ import annotations

import json
import mimetypes
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from tests.chaos import media
from tests.conftest import SAMPLE_VIDEO, wait_for
from tests.stack import Stack

TENANT = "chaos"
INPUT_BUCKET, OUTPUT_BUCKET = "kscribe-input", "kscribe-output"
TERMINAL = ("succeeded", "failed", "cancelled")
# Leases short enough for a scenario to see a re-drive. A job merely queued behind the
# backlog scenario's is never re-driven, whatever the lease: its stage's workers are busy
# (kscribe/pipeline/reconcile.py), so waiting is not mistaken for loss.
REDRIVE = {
    "KSCRIBE_REDRIVE_AFTER_SECONDS": "20",
    "KSCRIBE_REDRIVE_EXTRACT_SECONDS": "20",
    "KSCRIBE_REDRIVE_TRANSCRIBE_SECONDS": "30",
    "KSCRIBE_REDRIVE_PUBLISH_SECONDS": "20",
    "KSCRIBE_MAX_REDRIVES": "10",
    "KSCRIBE_CALLBACK_RESEND_SECONDS": "600",
}
RESULTS: list[Row] = []


@dataclass
class Row:
    scenario: str
    jobs: int = 0
    succeeded: int = 0
    failed: Counter = field(default_factory=Counter)  # reason → count
    lost: int = 0
    stuck: int = 0
    duplicates: int = 0
    time_to_terminal_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def check(self, all_succeed: bool = False) -> None:
        """The scenario's assertions, after its row is in the table."""
        problems = list(self.problems)
        if self.lost or self.stuck:
            problems.append(f"{self.lost} lost, {self.stuck} stuck")
        if self.duplicates:
            problems.append(f"{self.duplicates} duplicate output(s) or job(s)")
        if all_succeed and self.failed:
            problems.append(f"failed: {dict(self.failed)}")
        assert not problems, f"{self.scenario}: " + "; ".join(problems)


class CallbackReceiver:
    """A loopback webhook that waits ``delay_s`` and answers 204."""

    def __init__(self, delay_s: float = 0.0):
        self.received: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(time.monotonic())
                time.sleep(delay_s)  # the slow receiver being simulated, not a wait
                try:
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chaos"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ChaosEnv:
    stack: Stack
    sizes: object
    tmp: Path
    auth: dict[str, str]
    clips: dict[str, Path]
    baseline: dict[str, str] = field(default_factory=dict)  # source name → undisturbed transcript

    @classmethod
    def start(cls, tmp: Path, sizes) -> ChaosEnv:
        stack = Stack(
            tmp,
            broker_args=f"--ping-seconds 2 --backoff-scale 0.5 --workers-per-service {sizes.at_once}",
            extra_ports=("API_INTERNAL", "RECONCILE"),
            env={
                "KSCRIBE_TENANT_MAX_ACTIVE_JOBS": "0",
                "KSCRIBE_TENANT_AUDIO_HOURS_PER_DAY": "0",
                "KSCRIBE_API_RATE_PER_MINUTE": "100000",
                "KSCRIBE_CALLBACK_ATTEMPTS": "3",
                **REDRIVE,
            },
        )
        try:
            created = stack.kscribe("keys", "create", "--tenant", TENANT, timeout=60)
            assert created.returncode == 0, created.stderr
            env = cls(
                stack,
                sizes,
                tmp,
                {"Authorization": f"Bearer {created.stdout.splitlines()[0].strip()}"},
                media.clips(SAMPLE_VIDEO, tmp / "clips"),
            )
            env.upload(SAMPLE_VIDEO, "meeting.mp4")
            for path in env.clips.values():
                env.upload(path, path.name)
            return env
        except BaseException:
            stack.stop()
            raise

    def stop(self) -> None:
        self.stack.stop()

    # -- jobs ------------------------------------------------------------------------------
    def upload(self, path: Path, name: str, prefix: str = f"tenants/{TENANT}/") -> str:
        blob = self.stack.storage().bucket(INPUT_BUCKET).blob(prefix + name)
        blob.upload_from_filename(str(path), content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
        return f"gs://{INPUT_BUCKET}/{prefix}{name}"

    def source(self, name: str) -> str:
        return f"gs://{INPUT_BUCKET}/tenants/{TENANT}/{name}"

    def create(self, name: str, **body) -> tuple[str, float]:
        """An API job on the tenant's upload ``name``: (job id, seconds the API took)."""
        began = time.monotonic()
        r = requests.post(
            self.stack.url["api"] + "/api/v1/transcriptions",
            headers=self.auth,
            timeout=60,
            json={"source": self.source(name), **body},
        )
        took = time.monotonic() - began
        assert r.status_code == 202, r.text
        return r.json()["id"], took

    def notify_upload(self, uri: str, event_id: str | None = None, retry_s: float = 60) -> None:
        """The object.finalized Eventarc sends for ``uri``, retried as Eventarc retries (on a
        refused connection or a 5xx)."""
        bucket, name = uri.removeprefix("gs://").split("/", 1)
        blob = self.stack.storage().bucket(bucket).get_blob(name)
        event = CloudEvent(
            {
                "type": "google.cloud.storage.object.v1.finalized",
                "source": f"//storage/{bucket}",
                "id": event_id or f"{uri}#{blob.generation}",
                "subject": f"objects/{name}",
            },
            {
                "bucket": bucket,
                "name": name,
                "generation": str(blob.generation),
                "size": str(blob.size),
                "contentType": blob.content_type,
            },
        )
        headers, body = to_binary(event)

        def delivered():
            try:
                return (
                    requests.post(
                        self.stack.env["KSCRIBE_INGEST_URL"], data=body, headers=headers, timeout=30
                    ).status_code
                    < 300
                )
            except requests.RequestException:
                return False

        wait_for(delivered, timeout_s=retry_s, interval_s=0.5)

    def record(self, job_id: str) -> dict[str, str] | None:
        try:
            return self.stack.redis.hgetall(f"kscribe:job:{job_id}")
        except redis.RedisError:
            return None  # Redis restarting: unknown, not lost

    def jobs_of(self, uri: str) -> list[str]:
        return [
            k.split(":")[2]
            for k in self.stack.redis.scan_iter("kscribe:job:*")
            if k.count(":") == 2 and self.stack.redis.hget(k, "source_uri") == uri
        ]

    def wait_status(self, job_id: str, *statuses: str, timeout_s: float = 120) -> str:
        """Poll the job until it is in one of ``statuses`` (or ended): the status seen."""

        def seen():
            status = (self.record(job_id) or {}).get("status")
            return status if status in statuses + TERMINAL else None

        return wait_for(seen, timeout_s=timeout_s, interval_s=0.005)

    # -- the stack -------------------------------------------------------------------------
    def scratch_bytes(self) -> int:
        root = Path(self.stack.env["KSCRIBE_DATA_DIR"]) / "scratch"
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0

    def log_size(self) -> int:
        return self.stack.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.stack.log_path, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def healthy(self) -> bool:
        status = self.stack.control.status()
        if any(s["state"] != "running" for s in status.values()):
            return False
        names = ["INGEST", "EXTRACT", "TRANSCRIBE", "PUBLISH", "NOTIFY", "DEAD_LETTER", "API"]
        urls = [f"http://127.0.0.1:{self.stack.env[f'KSCRIBE_{n}_PORT']}/health/live" for n in names]
        urls += [self.stack.url["broker"] + "/health", self.stack.env["STORAGE_EMULATOR_HOST"] + "/storage/v1/b"]
        try:
            self.stack.redis.ping()
            return all(requests.get(u, timeout=2).status_code == 200 for u in urls)
        except (requests.RequestException, redis.RedisError):
            return False

    # -- observing -------------------------------------------------------------------------
    def observe(
        self,
        row: Row,
        job_ids: list[str],
        started: float,
        bound_s: float,
        scratch_before: int,
        crashes_before: dict[str, int],
        expected_text: dict[str, str] | None = None,
    ) -> Row:
        """Wait (up to ``bound_s`` from ``started``) for every job to end, then fill ``row``
        and append it to the table. ``expected_text``: job id → its undisturbed transcript."""
        row.jobs = len(job_ids)
        ended: dict[str, float] = {}
        records: dict[str, dict] = {}
        missing: set[str] = set()
        deadline = started + bound_s
        while time.monotonic() < deadline:
            for job_id in job_ids:
                if job_id in ended or job_id in missing:
                    continue
                record = self.record(job_id)
                if record is None:
                    continue
                if not record:
                    missing.add(job_id)  # Redis answered and the job is gone: nothing brings it back
                elif record.get("status") in TERMINAL:
                    ended[job_id], records[job_id] = time.monotonic(), record
            if len(ended) + len(missing) == len(job_ids):
                break
            time.sleep(0.2)
        row.lost = len(missing)
        row.stuck = len(job_ids) - len(ended) - len(missing)
        row.time_to_terminal_s = max((t - started for t in ended.values()), default=0.0)
        row.extra["ended_s"] = {job_id: t - started for job_id, t in ended.items()}
        output = self.stack.storage().bucket(OUTPUT_BUCKET)
        for job_id, record in records.items():
            if record["status"] != "succeeded":
                reason = record.get("error", "")
                row.failed[_short(reason)] += 1
                row.extra.setdefault("reasons", []).append(" ".join(reason.split())[:400])
                if not reason.strip() or "Traceback" in reason:
                    row.problems.append(f"job {job_id} failed without a clear reason: {reason!r}")
                continue
            row.succeeded += 1
            prefix = record["output_uri"].removeprefix(f"gs://{OUTPUT_BUCKET}/").rstrip("/") + "/"
            names = sorted(b.name.removeprefix(prefix) for b in output.list_blobs(prefix=prefix))
            wanted = sorted(f"{record['output_stem']}.{f}" for f in json.loads(record["formats"]))
            extra = [n for n in names if n not in wanted]
            row.duplicates += len(extra)
            if any(w not in names for w in wanted):
                row.problems.append(f"job {job_id} outputs {names}, wanted {wanted}")
            elif expected_text and job_id in expected_text:
                text = output.blob(f"{prefix}{record['output_stem']}.txt").download_as_text()
                if text != expected_text[job_id]:
                    row.problems.append(f"job {job_id}: transcript differs from the undisturbed run")
        self._after(row, scratch_before, crashes_before)
        RESULTS.append(row)
        return row

    def _after(self, row: Row, scratch_before: int, crashes_before: dict[str, int]) -> None:
        try:
            wait_for(self.healthy, timeout_s=90, interval_s=0.3)
        except AssertionError:
            row.problems.append(f"the stack did not come back healthy: {self.stack.control.status()}")
        status = self.stack.control.status()
        for name, s in status.items():
            if s["state"] == "gave-up" or s["crashes"] > crashes_before.get(name, 0):
                row.problems.append(
                    f"{name} crashed {s['crashes'] - crashes_before.get(name, 0)} time(s) (state {s['state']})"
                )
        try:
            wait_for(lambda: self.scratch_bytes() <= scratch_before, timeout_s=60, interval_s=0.5)
        except AssertionError:
            row.problems.append(f"scratch holds {self.scratch_bytes()} bytes, {scratch_before} before")

    def begin(self) -> tuple[float, int, dict[str, int]]:
        """Wait for a healthy stack; the scenario's start time, scratch size and crash counts."""
        wait_for(self.healthy, timeout_s=90, interval_s=0.3)
        return time.monotonic(), self.scratch_bytes(), {n: s["crashes"] for n, s in self.stack.control.status().items()}


def _short(reason: str, width: int = 60) -> str:
    line = " ".join(reason.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98]}


def render_table(rows: list[Row]) -> str:
    header = ("scenario", "jobs", "succeeded", "failed (reason)", "lost", "stuck", "duplicates", "time to terminal")
    lines = [header]
    for r in rows:
        failed = "; ".join(f"{n}× {reason}" for reason, n in r.failed.most_common()) or "0"
        lines.append(
            (
                r.scenario,
                str(r.jobs),
                str(r.succeeded),
                failed,
                str(r.lost),
                str(r.stuck),
                str(r.duplicates),
                f"{r.time_to_terminal_s:.1f} s",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        if "latency" in r.extra:
            lat = r.extra["latency"]
            out.append(
                f"\n{r.scenario}: {r.extra['creations']} API creations in {r.extra['window_s']:.1f} s; "
                f"latency p50 {lat['p50'] * 1000:.0f} ms, p95 {lat['p95'] * 1000:.0f} ms, "
                f"p99 {lat['p99'] * 1000:.0f} ms"
            )
            out.append(
                "peak RSS per process (MiB, each process tree's high-water marks summed): "
                + ", ".join(f"{name} {rss / 2**20:.0f}" for name, rss in r.extra["peak_rss"].items())
            )
    for r in rows:
        for reason in sorted(set(r.extra.get("reasons", ()))):
            out.append(f"{r.scenario}: failed: {reason}")
    failing = [r for r in rows if r.problems or r.lost or r.stuck or r.duplicates]
    for r in failing:
        out.append(
            f"\n{r.scenario}: "
            + "; ".join(r.problems + ([f"{r.lost} lost"] if r.lost else []) + ([f"{r.stuck} stuck"] if r.stuck else []))
        )
    return "\n".join(out) + "\n"
