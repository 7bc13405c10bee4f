#!/usr/bin/env python3
"""Smoke test of a kscribe installation: what the deploy runs against a canary, and what an
operator can run by hand.

Three checks, each with a deadline, all of which must pass (exit 0; 1 on any failure):

1. ``GET /health/ready`` of every function given with ``--health NAME=URL`` answers 200.
2. The sample video uploaded to the input bucket as ``<prefix>/<run id>/meeting.mp4`` yields its
   transcript in the output bucket, at the upload's own location (README, "Where transcripts
   land"): ``<output>/uploads/<input bucket>/<object name>/<generation>/meeting.txt``.
3. One API job (``--api-url``, key from the environment variable ``--api-key-env``) on that same
   object succeeds and serves its transcript. The key's tenant must be allowed the smoke prefix:
   ``kscribe keys create --tenant smoke --name smoke --source gs://<input>/smoke/``.

On GKE, Eventarc turns the upload into ingest's notification. A local stack has no Eventarc:
``--notify-ingest URL`` posts the object.finalized CloudEvent as it would (``python -m kscribe_stack submit``
does the same). ``--stack-env .env`` takes every location from a local stack's settings file.

    scripts/smoke.py --input-bucket my-input --output-bucket my-output \\
        --api-url https://transcribe.example.com --health api=https://transcribe.example.com
    KSCRIBE_SMOKE_API_KEY=$(make -s keys TENANT=smoke) scripts/smoke.py --stack-env .env

Cloud Storage is reached with Application Default Credentials (in CI: Workload Identity
Federation), or the emulator when ``STORAGE_EMULATOR_HOST`` is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "meeting.mp4"
FUNCTIONS = ["ingest", "extract", "transcribe", "diarize", "publish", "notify", "dead-letter", "api", "reconcile"]
T = TypeVar("T")


class SmokeFailure(Exception):
    """A check did not pass; the message says which and why, in plain words."""


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def poll(what: str, check: Callable[[], T | None], deadline_s: float, interval_s: float) -> T:
    """``check()`` until it returns something other than None, or fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    last_error = ""
    while True:
        try:
            value = check()
            if value is not None:
                return value
        except (requests.RequestException, OSError) as e:  # not up yet: keep polling
            last_error = f" (last error: {e})"
        if time.monotonic() >= end:
            raise SmokeFailure(f"{what}: not done after {deadline_s:.0f} s{last_error}")
        time.sleep(interval_s)


def strip_gs(bucket: str) -> str:
    return bucket.removeprefix("gs://").strip("/")


@dataclass
class Config:
    input_bucket: str
    output_bucket: str
    prefix: str = "smoke"
    sample: Path = SAMPLE
    health: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    api_key: str = ""
    notify_ingest: str = ""
    deadline_s: float = 900
    interval_s: float = 2
    cleanup: bool = True
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])


def check_health(cfg: Config) -> None:
    for name, url in cfg.health.items():
        ready = url.rstrip("/") + "/health/ready"

        def ok(ready=ready) -> bool | None:
            r = requests.get(ready, timeout=10)
            return True if r.status_code == 200 else None

        poll(f"{name}: GET {ready} did not answer 200", ok, min(cfg.deadline_s, 120), cfg.interval_s)
        log(f"ready: {name} ({ready})")


def notify_ingest(url: str, bucket: str, blob) -> None:
    """POST the object.finalized CloudEvent to ingest, as Eventarc does (binary mode)."""
    from cloudevents.conversion import to_binary
    from cloudevents.http import CloudEvent

    data = {
        "bucket": bucket,
        "name": blob.name,
        "generation": str(blob.generation),
        "size": str(blob.size),
        "contentType": blob.content_type,
        "metadata": blob.metadata or {},
    }
    event = CloudEvent(
        {
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "subject": f"objects/{blob.name}",
            "id": f"gs://{bucket}/{blob.name}#{blob.generation}",
            "datacontenttype": "application/json",
        },
        data,
    )
    headers, body = to_binary(event)
    r = requests.post(url, data=body, headers=headers, timeout=30)
    if r.status_code >= 300:
        raise SmokeFailure(f"ingest answered {r.status_code} to the upload's notification: {r.text[:300]}")


def upload_and_wait(cfg: Config, client) -> tuple[str, list[str]]:
    """Upload the sample; wait for its transcript. Returns the source URI and the objects made."""
    name = f"{cfg.prefix}/{cfg.run_id}/{cfg.sample.name}"
    blob = client.bucket(cfg.input_bucket).blob(name)
    blob.upload_from_filename(str(cfg.sample), content_type="video/mp4")
    blob.reload()
    source = f"gs://{cfg.input_bucket}/{name}"
    log(f"uploaded {source} (generation {blob.generation})")
    if cfg.notify_ingest:
        notify_ingest(cfg.notify_ingest, cfg.input_bucket, blob)
        log(f"notified ingest at {cfg.notify_ingest}")
    where = f"uploads/{cfg.input_bucket}/{name}/{blob.generation}/"
    txt = f"{where}{cfg.sample.stem}.txt"
    output = client.bucket(cfg.output_bucket)

    def transcript() -> str | None:
        found = output.get_blob(txt)
        return found.download_as_text() if found is not None else None

    started = time.monotonic()
    text = poll(f"upload: no transcript at gs://{cfg.output_bucket}/{txt}", transcript, cfg.deadline_s, cfg.interval_s)
    if not text.strip():
        raise SmokeFailure(f"upload: gs://{cfg.output_bucket}/{txt} is empty")
    outputs = sorted(b.name for b in output.list_blobs(prefix=where))
    log(
        f"transcript after {time.monotonic() - started:.0f} s: gs://{cfg.output_bucket}/{txt} "
        f"({len(text.split())} words; {', '.join(o.rsplit('.', 1)[-1] for o in outputs)})"
    )
    log(f'  "{" ".join(text.split()[:12])} …"')
    return source, [f"gs://{cfg.output_bucket}/{o}" for o in outputs]


def api_job(cfg: Config, source: str) -> list[str]:
    """One job through the API on ``source``; returns its outputs."""
    api = cfg.api_url.rstrip("/")
    auth = {"Authorization": f"Bearer {cfg.api_key}"}
    r = requests.post(
        f"{api}/api/v1/transcriptions",
        json={"source": source, "formats": ["txt", "srt"]},
        headers={**auth, "Idempotency-Key": f"smoke-{cfg.run_id}"},
        timeout=30,
    )
    if r.status_code != 202:
        raise SmokeFailure(f"api: POST /api/v1/transcriptions answered {r.status_code}: {r.text[:300]}")
    job = r.json()
    log(f"api job {job['id']} {job['status']}")
    started = time.monotonic()

    def finished() -> dict | None:
        state = requests.get(api + job["status_url"], headers=auth, timeout=30)
        state.raise_for_status()
        body = state.json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    done = poll(f"api: job {job['id']} did not finish", finished, cfg.deadline_s, cfg.interval_s)
    if done["status"] != "succeeded":
        raise SmokeFailure(f"api: job {job['id']} {done['status']}: {done.get('error')}")
    txt = requests.get(api + job["status_url"] + "/transcript", params={"format": "txt"}, headers=auth, timeout=30)
    if txt.status_code != 200 or not txt.text.strip():
        raise SmokeFailure(f"api: the transcript of job {job['id']} answered {txt.status_code}")
    log(f"api job {job['id']} succeeded after {time.monotonic() - started:.0f} s ({len(txt.text.split())} words)")
    return list((done.get("outputs") or {}).values())


def run_folders(cfg: Config) -> list[str]:
    """Where the run's upload and its transcripts live: nothing else is under these."""
    name = f"{cfg.prefix}/{cfg.run_id}/"
    return [f"gs://{cfg.input_bucket}/{name}", f"gs://{cfg.output_bucket}/uploads/{cfg.input_bucket}/{name}"]


def cleanup(client, folders: list[str], uris: list[str]) -> None:
    """Delete everything under ``folders``, listed now, and ``uris``. Listed at the end, not
    when the transcript appeared: the job writes its formats one after another, and the
    listing taken at its .txt missed those written after it."""
    targets = list(uris)
    for folder in folders:
        bucket, _, prefix = folder.removeprefix("gs://").partition("/")
        try:
            targets += [f"gs://{bucket}/{b.name}" for b in client.bucket(bucket).list_blobs(prefix=prefix)]
        except Exception as e:
            log(f"could not list {folder}: {e}")
    for uri in dict.fromkeys(targets):
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        try:
            client.bucket(bucket).blob(name).delete()
        except Exception as e:
            log(f"could not delete {uri}: {e}")


def run(cfg: Config) -> None:
    from google.cloud import storage

    log(f"run {cfg.run_id}: input gs://{cfg.input_bucket}, output gs://{cfg.output_bucket}")
    check_health(cfg)
    client = storage.Client()
    made: list[str] = []
    try:
        source, outputs = upload_and_wait(cfg, client)
        made += [source, *outputs]
        if cfg.api_url:
            if not cfg.api_key:
                raise SmokeFailure("api: no API key (set the --api-key-env variable, or leave --api-url out)")
            made += api_job(cfg, source)
        else:
            log("api: skipped (no --api-url)")
    finally:
        if cfg.cleanup:
            cleanup(client, run_folders(cfg), made)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            values[k.strip()] = v.strip()
    return values


def from_stack_env(path: Path) -> dict:
    """A local stack's locations, from its settings file (.env, or tests/stack.py's)."""
    env = read_env_file(path)
    host = "http://127.0.0.1"
    ports = {fn: env[f"KSCRIBE_{fn.upper().replace('-', '_')}_PORT"] for fn in FUNCTIONS}
    os.environ.setdefault("STORAGE_EMULATOR_HOST", env["STORAGE_EMULATOR_HOST"])
    return {
        "input_bucket": strip_gs(env["KSCRIBE_INPUT_URI"]),
        "output_bucket": strip_gs(env["KSCRIBE_OUTPUT_URI"]),
        "health": {fn: f"{host}:{port}" for fn, port in ports.items()},
        "api_url": f"{host}:{ports['api']}",
        "notify_ingest": env["KSCRIBE_INGEST_URL"],
    }


def parse(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--stack-env", type=Path, help="a local stack's settings file: every location from it")
    p.add_argument("--input-bucket", help="the environment's input bucket (name or gs://name)")
    p.add_argument("--output-bucket", help="the environment's output bucket")
    p.add_argument("--prefix", default="smoke", help="where under the input bucket to upload (default smoke)")
    p.add_argument("--sample", type=Path, default=SAMPLE)
    p.add_argument(
        "--health",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a function whose /health/ready must answer 200 (repeatable)",
    )
    p.add_argument(
        "--api-url",
        default=os.environ.get("KSCRIBE_SMOKE_API_URL", ""),
        help="the api function's URL (default $KSCRIBE_SMOKE_API_URL); none: no API job",
    )
    p.add_argument("--api-key-env", default="KSCRIBE_SMOKE_API_KEY", help="variable holding the API key")
    p.add_argument(
        "--notify-ingest", default="", metavar="URL", help="local stack: post the upload's notification here"
    )
    p.add_argument("--deadline", type=float, default=900, help="seconds to wait for each transcript (default 900)")
    p.add_argument("--keep", action="store_true", help="leave the uploaded video and the transcripts in place")
    a = p.parse_args(argv)
    values: dict = {}
    if a.stack_env:
        values = from_stack_env(a.stack_env)
    health = dict(values.get("health", {}))
    for item in a.health:
        name, sep, url = item.partition("=")
        if not sep:
            p.error(f"--health wants NAME=URL, not {item}")
        health[name] = url
    input_bucket = a.input_bucket or values.get("input_bucket")
    output_bucket = a.output_bucket or values.get("output_bucket")
    if not input_bucket or not output_bucket:
        p.error("--input-bucket and --output-bucket (or --stack-env) are needed")
    return Config(
        input_bucket=strip_gs(input_bucket),
        output_bucket=strip_gs(output_bucket),
        prefix=a.prefix.strip("/"),
        sample=a.sample,
        health=health,
        api_url=a.api_url or values.get("api_url", ""),
        api_key=os.environ.get(a.api_key_env, ""),
        notify_ingest=a.notify_ingest or values.get("notify_ingest", ""),
        deadline_s=a.deadline,
        cleanup=not a.keep,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    started = time.monotonic()
    try:
        run(cfg)
    except SmokeFailure as e:
        log(f"FAILED: {e}")
        return 1
    log(f"passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
