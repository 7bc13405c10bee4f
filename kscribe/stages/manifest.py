"""A job's chunk manifest in work storage: written last by extract, so its presence means
every chunk is stored. Later stages take chunk locations and boundaries from it, never from
an event (events carry references, not authority)."""

from __future__ import annotations

import json

from kscribe.context import Context
from kscribe.notices import META_ROLE
from kscribe.stages import layout
from kscribe.values import Chunk

WORK_METADATA = {META_ROLE: "work"}


def read_chunks(ctx: Context, job_id: str) -> list[Chunk] | None:
    """The job's chunks, or None if extraction has not finished (or its objects are gone)."""
    try:
        raw = ctx.blobs.read_bytes(layout.chunk_manifest(ctx.settings.work_uri, job_id))
    except FileNotFoundError:
        return None
    return [Chunk.from_dict(c) for c in json.loads(raw)["chunks"]]


def write_chunks(ctx: Context, job_id: str, duration_s: float, chunks: list[Chunk]) -> None:
    manifest = {"job_id": job_id, "duration_s": duration_s, "chunks": [c.to_dict() for c in chunks]}
    ctx.blobs.write_bytes(
        layout.chunk_manifest(ctx.settings.work_uri, job_id),
        json.dumps(manifest).encode(),
        "application/json",
        WORK_METADATA,
    )
