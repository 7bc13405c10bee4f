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
from pathlib import Path

import requests

from kscribe.choices import META_UPLOAD, JobChoices
from kscribe.context import Context
from kscribe.errors import InputError
from kscribe.events import OBJECT_FINALIZED
from kscribe.settings import Settings
from kscribe.state.uploads import Upload
from kscribe.storage import BlobInfo, Readable, split_gs
from kscribe.storage.notices import storage_object

# The page sends a resumable upload in pieces of this size: GCS takes multiples of 256 KiB.
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
def resumable_session(ctx: Context, upload: Upload, metadata: dict[str, str], origin: str | None) -> str:
    """An upload session for exactly ``upload.size`` bytes of the upload's object; the browser
    PUTs to it (CORS for ``origin``) and resumes it after a break."""
    content_type = upload.content_type or "application/octet-stream"
    return ctx.blobs.resumable_session(upload.uri, upload.size, content_type, metadata, origin)


def store_stream(ctx: Context, upload: Upload, stream: Readable, metadata: dict[str, str]) -> BlobInfo:
    """Stream exactly ``upload.size`` bytes into the upload's object, piece by piece (never
    whole in memory), and return what was stored."""
    content_type = upload.content_type or "application/octet-stream"
    ctx.blobs.write_stream(upload.uri, stream, upload.size, content_type, metadata)
    info = ctx.blobs.stat(upload.uri)
    if info is None:
        raise InputError(f"{upload.uri} is gone right after its upload")
    return info


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
