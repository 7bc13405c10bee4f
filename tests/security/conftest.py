"""One stack for the whole security suite: two tenants (acme, globex) with keys made by the CLI,
their uploads in the GCS emulator, objects planted where no tenant may reach, and the jobs
several findings are checked against. Every job here runs the real model, so there are few."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from google.cloud import storage

from tests.conftest import SAMPLE_VIDEO, wait_for
from tests.media_files import ffmpeg
from tests.stack import Stack

BASE = "/api/v1/transcriptions"
INPUT, WORK, OUTPUT = "gs://kscribe-input", "gs://kscribe-work", "gs://kscribe-output"
MAX_ACTIVE_JOBS = 2
MAX_BODY_BYTES = 65536
UPLOAD_BUDGET_POD = 3 * 1024**2
UPLOAD_BUDGET_TENANT = 2 * 1024**2
FINISHED = ("succeeded", "failed", "cancelled")
_SECRET_LINE = re.compile(r"callback secret for tenant (\S+) \(shown once\): (\S+)")


@dataclass(frozen=True)
class Tenant:
    name: str
    token: str
    callback_secret: str | None  # None where the CLI does not print one

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Env:
    """The running stack and what the suite put into it."""

    stack: Stack
    acme: Tenant
    globex: Tenant
    internal_url: str
    media: Path  # files on the host, outside every bucket: meeting.mkv, host.wav, ...

    @property
    def api(self) -> str:
        return self.stack.url["api"]

    def tenant(self, name: str) -> Tenant:
        return create_tenant(self.stack, name)

    def create(self, tenant: Tenant, headers: dict[str, str] | None = None, **body) -> requests.Response:
        return requests.post(self.api + BASE, json=body, headers={**tenant.auth, **(headers or {})}, timeout=30)

    def job(self, tenant: Tenant, job_id: str) -> requests.Response:
        return requests.get(f"{self.api}{BASE}/{job_id}", headers=tenant.auth, timeout=30)

    def cancel(self, tenant: Tenant, job_id: str) -> requests.Response:
        return requests.delete(f"{self.api}{BASE}/{job_id}", headers=tenant.auth, timeout=30)

    def wait_finished(self, tenant: Tenant, job_id: str, timeout_s: float = 240) -> dict:
        def finished():
            job = self.job(tenant, job_id).json()
            return job if job["status"] in FINISHED else None

        return wait_for(finished, timeout_s=timeout_s, interval_s=0.5)

    def record(self, job_id: str) -> dict[str, str]:
        """The job as stored, read from Redis (for jobs no API key can see)."""
        return self.stack.redis.hgetall(f"kscribe:job:{job_id}")

    def job_ids(self) -> set[str]:
        return {k.split(":")[2] for k in self.stack.redis.scan_iter("kscribe:job:*") if k.count(":") == 2}

    def post_event(self, function: str, event_type: str, data: dict, **attributes: str) -> requests.Response:
        """A CloudEvent sent straight to one function, as anyone who can reach it could."""
        event = CloudEvent({"type": event_type, "source": "//forged", **attributes}, data)
        headers, body = to_binary(event)
        url = (
            self.stack.env["KSCRIBE_INGEST_URL"] if function == "ingest" else self.stack.url[function.replace("-", "_")]
        )
        return requests.post(url, data=body, headers=headers, timeout=300)

    def upload_notice(self, name: str) -> requests.Response:
        """The object.finalized the bucket's notification would send for ``name``."""
        blob = self.stack.storage().bucket("kscribe-input").get_blob(name)
        return self.post_event(
            "ingest",
            "google.cloud.storage.object.v1.finalized",
            {
                "bucket": "kscribe-input",
                "name": name,
                "generation": str(blob.generation),
                "size": str(blob.size),
                "contentType": blob.content_type or "application/octet-stream",
            },
        )

    def storage(self) -> storage.Client:
        return self.stack.storage()

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(b.name for b in self.storage().bucket(bucket).list_blobs(prefix=prefix))


def create_tenant(stack: Stack, name: str) -> Tenant:
    created = stack.kscribe("keys", "create", "--tenant", name, timeout=60)
    assert created.returncode == 0, created.stderr
    secret = next((m.group(2) for m in _SECRET_LINE.finditer(created.stderr) if m.group(1) == name), None)
    return Tenant(name, created.stdout.splitlines()[0].strip(), secret)


def wav_declaring(rate: int, samples: int) -> bytes:
    """A PCM WAV whose header says ``rate`` samples a second (silence)."""
    data = b"\0\0" * samples
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


@pytest.fixture(scope="package")
def env(tmp_path_factory) -> Env:
    tmp = tmp_path_factory.mktemp("security")
    stack = Stack(
        tmp,
        extra_ports=("API_INTERNAL",),
        env={
            "KSCRIBE_TENANT_MAX_ACTIVE_JOBS": str(MAX_ACTIVE_JOBS),
            "KSCRIBE_API_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "KSCRIBE_API_RATE_PER_MINUTE": "100000",
            "KSCRIBE_CALLBACK_ALLOW": "127.0.0.1",
            "KSCRIBE_CALLBACK_ATTEMPTS": "2",
            # One request at a time per function: an event sent straight to a function is handled
            # before the broker's deliveries that follow it, so a forged event's effect is certain.
            "THREADS": "1",
            # Page uploads through the api (the emulator's resumable sessions are not reachable).
            "KSCRIBE_WEB_UPLOADS": "api",
            # Small upload budgets, so in-flight uploads of a few MiB meet them (N5).
            "KSCRIBE_API_UPLOAD_BUDGET_BYTES": str(UPLOAD_BUDGET_POD),
            "KSCRIBE_API_TENANT_UPLOAD_BUDGET_BYTES": str(UPLOAD_BUDGET_TENANT),
            # One callback delivery under way per tenant (N12).
            "KSCRIBE_CALLBACK_LANES": "1",
        },
    )
    try:
        acme, globex = create_tenant(stack, "acme"), create_tenant(stack, "globex")
        media = tmp / "media"
        media.mkdir()
        ffmpeg("-i", str(SAMPLE_VIDEO), "-c", "copy", str(media / "meeting.mkv"))
        # The meeting's last ten seconds: words that must never show up in acme's transcripts.
        ffmpeg("-sseof", "-10", "-i", str(SAMPLE_VIDEO), "-vn", "-ac", "1", "-ar", "16000", str(media / "secret.wav"))
        ffmpeg("-t", "2", "-i", str(SAMPLE_VIDEO), "-vn", "-ac", "1", "-ar", "16000", str(media / "tiny.wav"))
        ffmpeg("-t", "10", "-i", str(SAMPLE_VIDEO), "-vn", "-ac", "1", "-ar", "16000", str(media / "host.wav"))
        client = stack.storage()
        uploads = {
            "kscribe-input": {
                "tenants/acme/meeting.mp4": SAMPLE_VIDEO,
                "tenants/acme/tiny.wav": media / "tiny.wav",
                "tenants/globex/meeting.mkv": media / "meeting.mkv",
                "tenants/globex/secret.wav": media / "secret.wav",
                "shared/tiny.wav": media / "tiny.wav",
            },
            "kscribe-work": {"planted/chunks/00000.wav": media / "tiny.wav"},
            "kscribe-output": {"planted/meeting.wav": media / "tiny.wav"},
            "kscribe-private": {"payroll.wav": media / "tiny.wav"},
        }
        client.create_bucket("kscribe-private")
        for bucket, files in uploads.items():
            for name, path in files.items():
                client.bucket(bucket).blob(name).upload_from_filename(str(path))
        yield Env(stack, acme, globex, stack.url["api_internal"], media)
    finally:
        stack.stop()


class BlackHole:
    """Accepts every connection and never reads or answers."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


class CallbackReceiver:
    """A loopback endpoint answering every delivery with ``status`` and ``body``."""

    def __init__(self, status: int, body: bytes = b""):
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kscribe"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


RECEIVER_SECRET_BODY = b"receiver-internal-detail: db password hunter2"


@dataclass(frozen=True)
class FinishedJob:
    tenant: Tenant
    job: dict
    callbacks: CallbackReceiver


def _finished_job(env, tenant, source: str, receiver) -> Iterator[FinishedJob]:
    """``tenant`` transcribes ``source`` through the API with ``receiver`` as its callback;
    yields the finished job once its callback outcome is recorded."""
    r = env.create(tenant, source=source, callback_url=receiver.url)
    assert r.status_code == 202, r.text
    job = env.wait_finished(tenant, r.json()["id"])
    assert job["status"] == "succeeded", job
    wait_for(lambda: env.job(tenant, job["id"]).json()["callback"]["status"], timeout_s=30)
    yield FinishedJob(tenant, env.job(tenant, job["id"]).json(), receiver)
    receiver.close()


@pytest.fixture(scope="package")
def acme_job(env) -> Iterator[FinishedJob]:
    """acme transcribes its own meeting.mp4 through the API; its callback receiver accepts."""
    yield from _finished_job(env, env.acme, f"{INPUT}/tenants/acme/meeting.mp4", CallbackReceiver(204))


@pytest.fixture(scope="package")
def globex_job(env) -> Iterator[FinishedJob]:
    """globex transcribes its own meeting.mkv; its callback receiver fails with a revealing body."""
    yield from _finished_job(
        env, env.globex, f"{INPUT}/tenants/globex/meeting.mkv", CallbackReceiver(500, RECEIVER_SECRET_BODY)
    )


@pytest.fixture(scope="package")
def initech(env) -> Tenant:
    """A third tenant for jobs cut short on purpose (its own meeting.mp4 upload)."""
    tenant = create_tenant(env.stack, "initech")
    env.storage().bucket("kscribe-input").blob("tenants/initech/meeting.mp4").upload_from_filename(str(SAMPLE_VIDEO))
    return tenant


@pytest.fixture(scope="package")
def transcribing_job(env, initech) -> str:
    """An initech job caught while its chunks are being transcribed (cancelled at the end)."""
    r = env.create(initech, source=f"{INPUT}/tenants/initech/meeting.mp4")
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    wait_for(lambda: env.record(job_id).get("status") in ("transcribing",) + FINISHED, timeout_s=120, interval_s=0.02)
    assert env.record(job_id)["status"] == "transcribing", env.record(job_id)
    yield job_id
    env.cancel(initech, job_id)
