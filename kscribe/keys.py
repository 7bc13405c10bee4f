"""Every Redis key kscribe writes. Everything a job owns expires after the retention period."""

PREFIX = "kscribe"


def job(job_id: str) -> str:
    """Hash: the job record."""
    return f"{PREFIX}:job:{job_id}"


def job_chunks_done(job_id: str) -> str:
    """Set: indexes of the chunks whose transcript is stored."""
    return f"{PREFIX}:job:{job_id}:chunks-done"


def job_chunks_diarized(job_id: str) -> str:
    """Set: indexes of the chunks whose voice turns are stored (jobs with speakers)."""
    return f"{PREFIX}:job:{job_id}:chunks-diarized"


def object_job(dedupe_key: str) -> str:
    """String: the job created for ``bucket/name#generation``."""
    return f"{PREFIX}:object:{dedupe_key}"


def tenant_jobs(tenant: str) -> str:
    """Sorted set: a tenant's job ids by creation time (for listing)."""
    return f"{PREFIX}:tenant:{tenant}:jobs"


def active_jobs() -> str:
    """Sorted set: unfinished job ids by last update (a stuck job stops moving here)."""
    return f"{PREFIX}:jobs:active"


def callbacks_due() -> str:
    """Sorted set: finished jobs that owe a callback, by when it is due (the reconciler
    re-sends until delivered or the re-send window closes)."""
    return f"{PREFIX}:callbacks:due"


def api_key(key_hash: str) -> str:
    """Hash: an API key's tenant and state, under the SHA-256 of the key."""
    return f"{PREFIX}:apikey:{key_hash}"


def api_keys() -> str:
    """Set: the hashes of every API key (for listing)."""
    return f"{PREFIX}:apikeys"


def rate_window(key_id: str, window: int) -> str:
    """Counter: requests by one key in one rate-limit window."""
    return f"{PREFIX}:rate:{key_id}:{window}"


def tenant(name: str) -> str:
    """Hash: a tenant's allowed source prefixes, callback secret and quota overrides."""
    return f"{PREFIX}:tenant:{name}"


def tenants() -> str:
    """Set: every tenant name (for listing)."""
    return f"{PREFIX}:tenants"


def tenant_status_jobs(tenant_name: str, status: str) -> str:
    """Sorted set: a tenant's job ids in one status, by creation time (listing by status).
    Maintained by the job store's scripts, which build this name themselves (see jobstore)."""
    return f"{PREFIX}:tenant:{tenant_name}:status:{status}"


def tenant_active(tenant_name: str) -> str:
    """Sorted set: a tenant's unfinished job ids by creation time (the concurrency quota)."""
    return f"{PREFIX}:tenant:{tenant_name}:active"


def tenant_audio_day(tenant_name: str, day: str) -> str:
    """Counter: milliseconds of audio a tenant's jobs extracted on ``day`` (YYYYMMDD, UTC)."""
    return f"{PREFIX}:tenant:{tenant_name}:audio:{day}"


def auth_failures_window(client: str, window: int) -> str:
    """Counter: failed API authentications from one client address in one rate-limit window."""
    return f"{PREFIX}:authfail:{client}:{window}"


def purges_due() -> str:
    """Sorted set: job ids with a retention period, by when they are to be purged."""
    return f"{PREFIX}:purges:due"


def purge_plans() -> str:
    """Hash: job id → what to purge (JSON: tenant, locations, dedupe key), kept until the
    purge is done even if the job record expired first."""
    return f"{PREFIX}:purges:plans"


def purge_plans_kept() -> str:
    """Sorted set: job ids with a purge plan, by when the plan may be forgotten (nothing of
    the job outlives it: ``KSCRIBE_PURGE_INDEX_DAYS`` is past every bucket lifecycle)."""
    return f"{PREFIX}:purges:kept"


def upload(upload_id: str) -> str:
    """Hash: one web page upload session (kscribe/webui.py)."""
    return f"{PREFIX}:upload:{upload_id}"


def callback_lanes(tenant: str) -> str:
    """Sorted set: the tenant's callback deliveries under way, by when each lane is free
    again at the latest (kscribe/callback_lanes.py). "" is the tenant of bucket uploads."""
    return f"{PREFIX}:callback-lanes:{tenant or '-'}"


def link_secret() -> str:
    """String: the HMAC secret of result links, made once when KSCRIBE_LINK_SECRET is unset."""
    return f"{PREFIX}:link-secret"


def claim(work: str) -> str:
    """String with a lease: the delivery now doing ``work`` (``job/extract``,
    ``job/chunk/index``); it expires by itself if that worker dies (see claims)."""
    return f"{PREFIX}:claim:{work}"


def stage_beat(stage: str) -> str:
    """When a worker of ``stage`` last took or held work (seconds since the epoch): the
    evidence that the stage's queue is moving (kscribe/claims.py, kscribe/reconcile.py)."""
    return f"{PREFIX}:stage:{stage}:beat"


def queue() -> str:
    """Sorted set: jobs waiting in line (created, no chunk on a worker yet), by creation time."""
    return f"{PREFIX}:queue"


def finished_minute(minute: str) -> str:
    """Counter: jobs that ended in that minute since the epoch (a prefix, with "")."""
    return f"{PREFIX}:finished:{minute}"


def jobs_lost() -> str:
    """String: how many jobs the reconciler's last pass found with their work lost."""
    return f"{PREFIX}:jobs-lost"


def batch(batch_id: str) -> str:
    """Hash: a batch record (tenant, total, callback, when it finished, its callback's state).
    The job store's end-of-job script builds this name itself (see jobstore)."""
    return f"{PREFIX}:batch:{batch_id}"


def batch_jobs(batch_id: str) -> str:
    """List: a batch's job ids, in the order its sources were given (or listed)."""
    return f"{PREFIX}:batch:{batch_id}:jobs"


def batch_finished(batch_id: str) -> str:
    """Set: the ids of a batch's jobs that ended (added in the step that ends each)."""
    return f"{PREFIX}:batch:{batch_id}:finished"


def batch_request(tenant_name: str, idempotency_key: str) -> str:
    """String: the batch a tenant's Idempotency-Key created."""
    return f"{PREFIX}:batch-request:{tenant_name}:{idempotency_key}"


def batches_due() -> str:
    """Sorted set: finished batches whose batch.completed or callback is still owed, by when
    the reconciler is to look at them again."""
    return f"{PREFIX}:batches:due"
