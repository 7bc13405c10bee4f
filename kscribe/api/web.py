"""What the web page (``kscribe/web/``) needs beyond the job API: its static files and
security headers, upload sessions in a tenant's own upload prefix, and short-lived media
tokens that let a ``<video>`` element (which cannot send a bearer token) play one job's source.

One upload makes exactly one job, and ingest makes it: an upload session names a fresh object
``<input>/tenants/<tenant>/web/<upload id>/<file name>`` carrying ``kscribe-upload`` metadata.
The bucket's notification (in production Eventarc's; locally the api posts the same
``object.finalized`` event once the bytes are in) reaches ingest, which creates the job once
per ``uri#generation``; the page finds that job by the object (``upload_job``). The API
refuses to make a second job of such an object (``POST /api/v1/transcriptions`` answers 409).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import requests

from kscribe.choices import META_UPLOAD, JobChoices
from kscribe.context import Context
from kscribe.errors import InputError
from kscribe.events import OBJECT_FINALIZED
from kscribe.settings import Settings
from kscribe.state.uploads import Upload
from kscribe.storage import BlobInfo, split_gs
from kscribe.storage.notices import storage_object

_PIECE = 1024 * 1024
# GCS resumable uploads take chunks in multiples of 256 KiB.
UPLOAD_CHUNK_BYTES = 32 * 256 * 1024

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def static_file(name: str) -> tuple[bytes, str] | None:
    """A file of the page by its exact name (no directories), with its content type."""
    if not re.fullmatch(r"[a-z0-9-]+\.(html|js|css|svg|png)", name):
        return None
    resource = importlib.resources.files("kscribe").joinpath("web", name)
    if not resource.is_file():
        return None
    return resource.read_bytes(), STATIC_TYPES["." + name.rsplit(".", 1)[1]]


# Swagger UI's files (/docs/<name>), from the flask-swagger-ui package's dist/ folder: only
# these, by exact name.
DOCS_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")


def docs_file(name: str) -> tuple[bytes, str] | None:
    """A file of Swagger UI for the /docs page, with its content type; None when it is not one
    of ``DOCS_FILES`` or the package is not installed. Found without importing the package
    (its module imports Flask's blueprint machinery the api does not need)."""
    if name not in DOCS_FILES:
        return None
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "dist" / name
    if not path.is_file():
        return None
    return path.read_bytes(), STATIC_TYPES["." + name.rsplit(".", 1)[1]]


def security_headers(settings: Settings) -> dict[str, str]:
    """On every answer of the api function: no inline script, no eval, never framed."""
    connect = "'self'" + (" https://storage.googleapis.com" if settings.web_uploads == "direct" else "")
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"media-src 'self' blob:; connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def upload_metadata(upload_id: str, choices: JobChoices) -> dict[str, str]:
    """The upload's object metadata: its session's id, and its job's choices as the
    ``kscribe-*`` keys ingest reads back (``JobChoices.from_metadata``)."""
    return {**choices.to_metadata(), META_UPLOAD: upload_id}


# --- storage: sessions, streamed writes, ranged reads ----------------------------------
def _gcs_client(ctx: Context, uri: str) -> Any:
    """The google-cloud-storage client behind ``ctx.blobs`` for a gs:// URI."""
    blobs: Any = ctx.blobs
    store = blobs.backend(uri) if hasattr(blobs, "backend") else blobs
    return store.client


def _gcs_blob(ctx: Context, uri: str, generation: str | None = None) -> Any:
    bucket, name = split_gs(uri)
    return _gcs_client(ctx, uri).bucket(bucket).blob(name, generation=int(generation) if generation else None)


def resumable_session(
    ctx: Context, upload: Upload, metadata: dict[str, str], origin: str | None
) -> str:  # pragma: no cover - needs real GCS (the emulator's sessions are not browser-reachable)
    """A GCS JSON API resumable session for exactly ``upload.size`` bytes of the upload's
    object; the browser PUTs to it (CORS for ``origin``) and resumes it after a break."""
    blob = _gcs_blob(ctx, upload.uri)
    blob.metadata = metadata
    url: str = blob.create_resumable_upload_session(
        content_type=upload.content_type or "application/octet-stream",
        size=upload.size,
        origin=origin,
        if_generation_match=0,  # never over an existing object
    )
    return url


class _Exactly:
    """A reader of exactly ``size`` bytes of ``stream``: short input raises instead of storing less."""

    def __init__(self, stream: IO[bytes], size: int):
        self.stream, self.left = stream, size

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (all that are left for -1), never fewer unless none are left: a reader
        asking for the whole size gets it whole or an ``InputError``."""
        want = self.left if n < 0 else min(n, self.left)
        parts: list[bytes] = []
        while want > 0:
            data = self.stream.read(min(want, _PIECE))
            if not data:
                raise InputError(f"the upload ended {self.left} bytes short")
            parts.append(data)
            self.left -= len(data)
            want -= len(data)
        return b"".join(parts)


def store_stream(ctx: Context, upload: Upload, stream: IO[bytes], metadata: dict[str, str]) -> BlobInfo:
    """Stream exactly ``upload.size`` bytes into the upload's object, piece by piece (never
    whole in memory), and return what was stored."""
    reader = _Exactly(stream, upload.size)
    if upload.uri.startswith("gs://"):
        bucket, name = split_gs(upload.uri)
        blob = _gcs_client(ctx, upload.uri).bucket(bucket).blob(name, chunk_size=UPLOAD_CHUNK_BYTES)
        blob.metadata = metadata
        try:
            blob.upload_from_file(
                reader,
                size=upload.size,
                content_type=upload.content_type or "application/octet-stream",
                if_generation_match=0,
                timeout=120,
            )
        except ValueError as exc:  # the client library's word for a stream shorter than its size
            raise InputError(f"the upload ended short: {exc}") from None
    else:
        path = ctx.blobs.local_path(upload.uri)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("xb") as out:
                while piece := reader.read(_PIECE):
                    out.write(piece)
        except BaseException:
            # Nothing half-stored, whatever stopped it (a short body, a dropped connection, a
            # read timeout): the upload may be sent again.
            path.unlink(missing_ok=True)
            raise
    info = ctx.blobs.stat(upload.uri)
    if info is None:
        raise InputError(f"{upload.uri} is gone right after its upload")
    return info


def read_range(ctx: Context, uri: str, generation: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of one generation of ``uri``, a piece at a time."""
    position = start
    if uri.startswith("gs://"):
        blob = _gcs_blob(ctx, uri, generation)
        while position <= end:
            last = min(end, position + _PIECE - 1)
            yield blob.download_as_bytes(start=position, end=last, timeout=60)
            position = last + 1
        return
    path = ctx.blobs.local_path(uri)
    assert path is not None
    with path.open("rb") as f:
        f.seek(start)
        while position <= end and (piece := f.read(min(_PIECE, end + 1 - position))):
            position += len(piece)
            yield piece


def notify_ingest(settings: Settings, info: BlobInfo) -> None:
    """Post the object's ``object.finalized`` CloudEvent to ingest, as the bucket's
    notification would (api mode: no bucket trigger reaches the emulator)."""
    from cloudevents.conversion import to_binary
    from cloudevents.http import CloudEvent

    if info.uri.startswith("gs://"):
        bucket, name = split_gs(info.uri)
        source = f"//storage.googleapis.com/projects/_/buckets/{bucket}"
    else:
        root = settings.input_uri.rstrip("/")
        bucket, name = root, info.uri[len(root) + 1 :]
        source = "//kscribe/local"
    data = storage_object(bucket, name, info)
    event = CloudEvent(
        {
            "type": OBJECT_FINALIZED,
            "source": source,
            "subject": f"objects/{name}",
            "id": f"{info.uri}#{info.generation}",
            "datacontenttype": "application/json",
        },
        data,
    )
    headers, body = to_binary(event)
    response = requests.post(settings.ingest_url, data=body, headers=headers, timeout=60)
    if response.status_code >= 300:
        raise InputError(f"ingest answered {response.status_code}: {response.text[:300]}")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range (or ``a-``, ``-n``) within ``size``; None when absent or
    unsatisfiable (the caller answers 416 for the latter when a header was given)."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or (not m.group(1) and not m.group(2)) or size == 0:
        return None
    if not m.group(1):
        start, end = max(0, size - int(m.group(2))), size - 1
    else:
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if start > end or start >= size:
        return None
    return start, end
