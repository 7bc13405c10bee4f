"""Purge plans in Redis: what each job left where (kept past its record, so a purge finds its
files for as long as any exist), the jobs whose retention is over, and forgetting a job."""

from __future__ import annotations

import json
from typing import Any

from kscribe.state import keys
from kscribe.state.client import KeyValue
from kscribe.values import JobStatus


class PurgePlans:
    def __init__(self, client: KeyValue):
        self._kv: Any = client

    def keep(self, job_id: str, plan: dict[str, str], kept_until: float, due_at: float | None) -> None:
        """Record the job's plan until ``kept_until``; ``due_at``: when its retention ends."""
        pipe = self._kv.pipeline()
        pipe.hset(keys.purge_plans(), job_id, json.dumps(plan))
        pipe.zadd(keys.purge_plans_kept(), {job_id: kept_until})
        if due_at is not None:
            pipe.zadd(keys.purges_due(), {job_id: due_at})
        pipe.execute()

    def plan(self, job_id: str) -> dict[str, str]:
        raw = self._kv.pipeline().hget(keys.purge_plans(), job_id).execute()[0]
        return json.loads(raw) if raw else {}

    def due(self, now: float, limit: int = 100) -> list[str]:
        """Jobs whose retention is over."""
        return list(self._kv.pipeline().zrangebyscore(keys.purges_due(), "-inf", now, 0, limit).execute()[0])

    def not_due(self, job_id: str) -> None:
        self._kv.pipeline().zrem(keys.purges_due(), job_id).execute()

    def forget_old(self, now: float, limit: int = 1000) -> int:
        """Drop the plans kept until before ``now``; how many."""
        old: list[str] = self._kv.pipeline().zrangebyscore(keys.purge_plans_kept(), "-inf", now, 0, limit).execute()[0]
        if old:
            pipe = self._kv.pipeline()
            pipe.hdel(keys.purge_plans(), *old)
            pipe.zrem(keys.purge_plans_kept(), *old)
            pipe.execute()
        return len(old)

    def forget_job(self, job_id: str, tenant: str, dedupe_key: str) -> None:
        """Every Redis key of the job, and its id in every index."""
        pipe = self._kv.pipeline()
        pipe.delete(keys.job(job_id), keys.job_chunks_done(job_id), keys.job_chunks_diarized(job_id))
        pipe.zrem(keys.active_jobs(), job_id)
        pipe.zrem(keys.callbacks_due(), job_id)
        pipe.zrem(keys.purges_due(), job_id)
        pipe.zrem(keys.purge_plans_kept(), job_id)
        pipe.hdel(keys.purge_plans(), job_id)
        if tenant:
            pipe.zrem(keys.tenant_jobs(tenant), job_id)
            pipe.zrem(keys.tenant_active(tenant), job_id)
            for status in JobStatus:
                pipe.zrem(keys.tenant_status_jobs(tenant, status.value), job_id)
        pipe.execute()
        # The dedupe key, only while it still names this job (a re-created one keeps its own).
        if dedupe_key and self._kv.get(keys.object_job(dedupe_key)) == job_id:
            self._kv.pipeline().delete(keys.object_job(dedupe_key)).execute()
