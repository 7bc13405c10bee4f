"""`python -m kscribe_stack submit` (`make submit`): upload files into the running stack's input
bucket, notify ingest as GCS would, and follow their jobs."""

from __future__ import annotations

import argparse
import mimetypes
import sys
import time
from dataclasses import replace
from pathlib import Path

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from kscribe.cli.main import describe, job_choices
from kscribe.context import Context
from kscribe.errors import InputError, KscribeError, SourceNotFound
from kscribe.events import OBJECT_FINALIZED
from kscribe.runtime import wiring
from kscribe.settings import Settings
from kscribe.storage import split_gs
from kscribe.storage.base import BlobStore
from kscribe.storage.notices import storage_object
from kscribe.values import Job, JobStatus


def upload_and_notify(path: Path, ctx: Context, name: str | None = None, metadata: dict[str, str] | None = None) -> str:
    """Upload ``path`` under the input location and POST its object.finalized CloudEvent to
    ingest (binary mode, as Eventarc delivers it). Returns its ``uri#generation``, the key
    its job is found by."""
    if not path.is_file():
        raise SourceNotFound(f"no such file: {path}")
    settings = ctx.settings
    if not settings.input_uri.startswith("gs://"):
        raise InputError(f"KSCRIBE_INPUT_URI must be a gs:// bucket for submit, not {settings.input_uri}")
    uri = f"{settings.input_uri.rstrip('/')}/{name or path.name}"
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    ctx.blobs.upload(path, uri, content_type, metadata)
    info = ctx.blobs.stat(uri)
    if info is None:  # the bucket lost it at once (a lifecycle rule, a racing delete)
        raise SourceNotFound(f"{uri} is gone right after its upload")
    bucket, object_name = split_gs(uri)
    data = storage_object(bucket, object_name, info)
    event = CloudEvent(
        {
            "type": OBJECT_FINALIZED,
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "subject": f"objects/{object_name}",
            "id": f"{uri}#{info.generation}",
            "datacontenttype": "application/json",
        },
        data,
    )
    headers, body = to_binary(event)
    deadline = time.monotonic() + 30
    while True:  # the stack may still be starting
        try:
            response = requests.post(settings.ingest_url, data=body, headers=headers, timeout=30)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    if response.status_code >= 300:
        raise InputError(f"ingest answered {response.status_code}: {response.text[:300]}")
    return f"{uri}#{info.generation}"


def local_copies(blobs: BlobStore, job: Job, out: Path) -> Job:
    """``job`` with its outputs copied into ``out`` and named by those copies: the stack's
    outputs are in its storage emulator, where a gs:// path cannot be opened (issue 26)."""
    out.mkdir(parents=True, exist_ok=True)
    copies = {}
    for fmt, uri in job.outputs.items():
        dest = out / uri.rstrip("/").rsplit("/", 1)[-1]
        blobs.download(uri, dest)
        copies[fmt] = str(dest)
    return replace(job, outputs=copies)


def follow(args: argparse.Namespace, settings: Settings) -> int:
    """Upload ``args.videos`` and follow their jobs to the end (unless ``--no-wait``)."""
    metadata = job_choices(args).to_metadata()
    ctx = wiring.create_context(settings)
    keys, failed = [], 0
    for video in args.videos:
        try:
            keys.append(upload_and_notify(video.expanduser(), ctx, metadata=metadata))
        except KscribeError as exc:
            print(f"kscribe: {exc}", file=sys.stderr)
            failed += 1
    job_ids = []
    for key in keys:
        job_id = ctx.jobs.job_id_for(key)
        if job_id is None:
            print(f"kscribe: ingest skipped {key} (see its log)", file=sys.stderr)
            failed += 1
        else:
            job_ids.append(job_id)
            print(f"submitted {key.rsplit('#', 1)[0]} as job {job_id}", file=sys.stderr)
    if args.no_wait:
        return 1 if failed else 0
    deadline = time.monotonic() + args.timeout
    last: dict[str, str] = {}
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in sorted(pending):
            job = ctx.jobs.require(job_id)
            line = f"[{job_id[:8]}] {job.status.value} {job.progress:.0f}%"
            if last.get(job_id) != line:
                print(line, file=sys.stderr)
                last[job_id] = line
            if job.status.terminal:
                pending.discard(job_id)
                if job.status is JobStatus.SUCCEEDED and args.out:
                    job = local_copies(ctx.blobs, job, args.out.expanduser())
                print(describe(job), file=sys.stdout if job.status is JobStatus.SUCCEEDED else sys.stderr)
                failed += job.status is not JobStatus.SUCCEEDED
        time.sleep(0.5)
    for job_id in pending:
        print(f"kscribe: job {job_id} still running after {args.timeout:.0f} s", file=sys.stderr)
    return 1 if failed or pending else 0
