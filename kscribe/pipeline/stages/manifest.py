"""A job's chunk manifest in work storage: written last by extract, so its presence means
every chunk is stored. Later stages take chunk locations and boundaries from it, never from
an event (events carry references, not authority)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kscribe.asr.languages import Window
from kscribe.context import Context
from kscribe.pipeline.stages import layout
from kscribe.storage.notices import META_ROLE
from kscribe.values import Chunk

WORK_METADATA = {META_ROLE: "work"}


def read_chunks(ctx: Context, job_id: str) -> list[Chunk] | None:
    """The job's chunks, or None if extraction has not finished (or its objects are gone)."""
    try:
        raw = ctx.blobs.read_bytes(layout.chunk_manifest(ctx.settings.work_uri, job_id))
    except FileNotFoundError:
        return None
    return [Chunk.from_dict(c) for c in json.loads(raw)["chunks"]]


def read_language_windows(ctx: Context, job_id: str) -> list[Window]:
    """The windows extract stored for the job's language detection (``layout.language_windows``
    holds their audio in this order); none if it stored none or has not finished."""
    try:
        raw = ctx.blobs.read_bytes(layout.chunk_manifest(ctx.settings.work_uri, job_id))
    except FileNotFoundError:
        return []
    return [Window.from_dict(w) for w in json.loads(raw).get("language_windows", [])]


def write_chunks(
    ctx: Context, job_id: str, duration_s: float, chunks: list[Chunk], windows: Sequence[Window] = ()
) -> None:
    manifest = {
        "job_id": job_id,
        "duration_s": duration_s,
        "chunks": [c.to_dict() for c in chunks],
        "language_windows": [w.to_dict() for w in windows],
    }
    ctx.blobs.write_bytes(
        layout.chunk_manifest(ctx.settings.work_uri, job_id),
        json.dumps(manifest).encode(),
        "application/json",
        WORK_METADATA,
    )
