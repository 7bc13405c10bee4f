"""`kscribe submit`: upload a file into the input bucket and notify ingest as GCS would."""

from __future__ import annotations

import mimetypes
import time
from pathlib import Path

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from kscribe.context import Context
from kscribe.errors import InputError, SourceNotFound
from kscribe.events import OBJECT_FINALIZED
from kscribe.storage import split_gs
from kscribe.storage.notices import storage_object


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
