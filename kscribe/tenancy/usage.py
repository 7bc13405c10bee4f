"""What a tenant has used against its quotas, for `kscribe usage` and GET /api/v1/usage."""

from __future__ import annotations

from typing import Any

from kscribe.context import Context
from kscribe.tenancy.tenants import Tenant, Tenants


def usage_view(ctx: Context, tenant: Tenant) -> dict[str, Any]:
    settings = ctx.settings
    limit_s = Tenants.audio_limit_s(settings, tenant)
    return {
        "tenant": tenant.name,
        "active_jobs": ctx.jobs.tenant_active_count(tenant.name),
        "max_active_jobs": Tenants.max_active_jobs(settings, tenant) or None,
        "audio_hours_today": round(ctx.jobs.audio_used_today(tenant.name) / 3600, 3),
        "audio_hours_per_day": round(limit_s / 3600, 3) or None,
    }
