"""Where a job's objects live: intermediate ones in work storage, outputs under a location
that belongs to one job of one tenant."""

from kscribe.storage import is_within, join


def job_prefix(work_uri: str, job_id: str) -> str:
    return join(work_uri, job_id)


def chunk_audio(work_uri: str, job_id: str, index: int) -> str:
    return join(work_uri, job_id, "chunks", f"{index:05d}.wav")


def language_windows(work_uri: str, job_id: str) -> str:
    """The audio of the job's language detection windows, one after another."""
    return join(work_uri, job_id, "language.wav")


def chunk_manifest(work_uri: str, job_id: str) -> str:
    """Written last by extract: its presence means every chunk is stored."""
    return join(work_uri, job_id, "chunks.json")


def chunk_transcript(work_uri: str, job_id: str, index: int) -> str:
    return join(work_uri, job_id, "transcripts", f"{index:05d}.json")


def chunk_voices(work_uri: str, job_id: str, index: int) -> str:
    """A chunk's speech turns and one voice embedding per turn (kscribe/transcript/speakers.py)."""
    return join(work_uri, job_id, "voices", f"{index:05d}.npz")


def api_output(output_uri: str, tenant: str, job_id: str) -> str:
    """Where an API job's outputs go: a location of its own, under its tenant's."""
    return join(output_uri, "tenants", tenant, "jobs", job_id)


def upload_output(output_uri: str, input_uri: str, source_uri: str, generation: str, tenant: str) -> str:
    """Where a bucket upload's outputs go, predictable from its notification: the object's
    whole name (extension kept, so talk.mp4 and talk.mkv differ) and its generation (so a
    re-upload never overwrites an earlier transcript).

    ``gs://in/talks/a.mp4`` generation 17 → ``<output>/uploads/in/talks/a.mp4/17``;
    under ``<input>/tenants/acme/`` → ``<output>/tenants/acme/uploads/<rest of name>/17``.
    """
    if tenant:
        rest = source_uri[len(join(input_uri, "tenants", tenant)) + 1 :]
        return join(output_uri, "tenants", tenant, "uploads", rest, generation)
    if source_uri.startswith("gs://"):
        name = source_uri[len("gs://") :]
    else:
        name = source_uri[len(input_uri.rstrip("/")) + 1 :] if is_within(source_uri, input_uri) else source_uri
    return join(output_uri, "uploads", name, generation)
