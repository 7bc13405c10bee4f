"""Where a job's intermediate objects live in work storage."""

from kscribe.storage import join


def job_prefix(work_uri: str, job_id: str) -> str:
    return join(work_uri, job_id)


def chunk_audio(work_uri: str, job_id: str, index: int) -> str:
    return join(work_uri, job_id, "chunks", f"{index:05d}.wav")


def chunk_manifest(work_uri: str, job_id: str) -> str:
    """Written last by extract: its presence means every chunk is stored."""
    return join(work_uri, job_id, "chunks.json")


def chunk_transcript(work_uri: str, job_id: str, index: int) -> str:
    return join(work_uri, job_id, "transcripts", f"{index:05d}.json")
