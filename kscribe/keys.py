"""Every Redis key kscribe writes. Everything a job owns expires after the retention period."""

PREFIX = "kscribe"


def job(job_id: str) -> str:
    """Hash: the job record."""
    return f"{PREFIX}:job:{job_id}"


def job_chunks_done(job_id: str) -> str:
    """Set: indexes of the chunks whose transcript is stored."""
    return f"{PREFIX}:job:{job_id}:chunks-done"


def object_job(dedupe_key: str) -> str:
    """String: the job created for ``bucket/name#generation``."""
    return f"{PREFIX}:object:{dedupe_key}"
