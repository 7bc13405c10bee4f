"""What a tenant has used against its quotas, for `kscribe usage` and GET /api/v1/usage."""

from __future__ import annotations

from typing import Any

from kscribe.ports import TenantQuotas
from kscribe.settings import Settings
from kscribe.tenancy.tenants import Tenant, Tenants


def usage_view(jobs: TenantQuotas, settings: Settings, tenant: Tenant) -> dict[str, Any]:
    limit_s = Tenants.audio_limit_s(settings, tenant)
    return {
        "tenant": tenant.name,
        "active_jobs": jobs.tenant_active_count(tenant.name),
        "max_active_jobs": Tenants.max_active_jobs(settings, tenant) or None,
        "audio_hours_today": round(jobs.audio_used_today(tenant.name) / 3600, 3),
        "audio_hours_per_day": round(limit_s / 3600, 3) or None,
    }
