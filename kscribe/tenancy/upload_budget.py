"""Bytes of uploads in flight on this pod's scratch disk, bounded per pod and per tenant.

An OpenAI-route upload is spooled to the api's scratch before it is stored: four concurrent
500 MiB uploads put 1.94 GiB on a 2 GiB emptyDir, and the pod (everyone's requests) was
evicted. Each upload now reserves the bytes it may write before a byte of its body is read —
its declared ``Content-Length``, or the largest upload allowed when it declares none — and
gives them back when its file is gone. A request over the pod's budget (``KSCRIBE_API_UPLOAD_
BUDGET_BYTES``) or its tenant's (``KSCRIBE_API_TENANT_UPLOAD_BUDGET_BYTES``) is refused at
once: it costs the pod nothing, and one tenant cannot take the whole pod's budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class OverBudget(Exception):
    """The upload would take the pod or its tenant past its budget of bytes in flight."""

    def __init__(self, message: str, whose: str):
        super().__init__(message)
        self.whose = whose  # "pod" or "tenant"


class UploadBudget:
    def __init__(self, pod_bytes: int, tenant_bytes: int):
        self.pod_bytes, self.tenant_bytes = pod_bytes, tenant_bytes
        self._lock = threading.Lock()
        self._pod = 0
        self._tenants: dict[str, int] = {}

    def in_flight(self, tenant: str | None = None) -> int:
        with self._lock:
            return self._pod if tenant is None else self._tenants.get(tenant, 0)

    @contextmanager
    def hold(self, tenant: str, size: int) -> Iterator[None]:
        """``size`` bytes reserved for ``tenant`` for the block."""
        self.take(tenant, size)
        try:
            yield
        finally:
            self.give_back(tenant, size)

    def take(self, tenant: str, size: int) -> None:
        """Reserve ``size`` bytes for ``tenant``; ``OverBudget``, reserving nothing, if they do not fit."""
        with self._lock:
            mine = self._tenants.get(tenant, 0)
            if mine + size > self.tenant_bytes:
                raise OverBudget(
                    f"tenant {tenant} has {mine} bytes of uploads in flight here; "
                    f"{size} more would pass its {self.tenant_bytes}",
                    "tenant",
                )
            if self._pod + size > self.pod_bytes:
                raise OverBudget(f"the server has {self._pod} bytes of uploads in flight; retry shortly", "pod")
            self._pod += size
            self._tenants[tenant] = mine + size

    def give_back(self, tenant: str, size: int) -> None:
        with self._lock:
            self._pod -= size
            left = self._tenants[tenant] - size
            if left:
                self._tenants[tenant] = left
            else:
                del self._tenants[tenant]
