"""A running job's chunk transcripts as they are stored: the text so far, before the merge."""

from __future__ import annotations

from collections.abc import Iterator

from kscribe.context import Context
from kscribe.pipeline.stages import layout
from kscribe.values import ChunkTranscript


def finished_chunks(ctx: Context, job_id: str, total: int, start: int = 0) -> Iterator[ChunkTranscript]:
    """The job's chunk transcripts from index ``start`` on, in order, up to the first of its
    ``total`` chunks not stored yet. Publishing removes them: a finished job has none."""
    for index in range(start, total):
        uri = layout.chunk_transcript(ctx.settings.work_uri, job_id, index)
        if ctx.blobs.stat(uri) is None:
            return
        try:
            raw = ctx.blobs.read_bytes(uri)
        except FileNotFoundError:  # removed since the stat: the job was just published
            return
        yield ChunkTranscript.from_json(raw)
