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


def tenant_jobs(tenant: str) -> str:
    """Sorted set: a tenant's job ids by creation time (for listing)."""
    return f"{PREFIX}:tenant:{tenant}:jobs"


def active_jobs() -> str:
    """Sorted set: unfinished job ids by last update (a stuck job stops moving here)."""
    return f"{PREFIX}:jobs:active"


def api_key(key_hash: str) -> str:
    """Hash: an API key's tenant and state, under the SHA-256 of the key."""
    return f"{PREFIX}:apikey:{key_hash}"


def api_keys() -> str:
    """Set: the hashes of every API key (for listing)."""
    return f"{PREFIX}:apikeys"


def rate_window(key_id: str, window: int) -> str:
    """Counter: requests by one key in one rate-limit window."""
    return f"{PREFIX}:rate:{key_id}:{window}"


def auth_failures_window(client: str, window: int) -> str:
    """Counter: failed API authentications from one client address in one rate-limit window."""
    return f"{PREFIX}:authfail:{client}:{window}"
