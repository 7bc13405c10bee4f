"""``Jobs`` is exactly its capabilities, and the Redis job store fits each of them.

A method added to ``JobStore`` must be placed in one capability (and only one) before these
pass, so ``Jobs`` never grows back into one undivided interface.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import pytest

from kscribe import ports
from kscribe.state.jobs import JobStore

CAPABILITIES = (
    ports.JobRecords,
    ports.JobProgress,
    ports.JobLeases,
    ports.JobLine,
    ports.TenantQuotas,
    ports.JobMonitoring,
)


def own_methods(cls: type) -> set[str]:
    """The public methods ``cls`` itself defines (not those it inherits)."""
    return {name for name, value in vars(cls).items() if inspect.isfunction(value) and not name.startswith("_")}


def protocol_members(protocol: type) -> set[str]:
    """Every public method and attribute a Protocol declares, its bases' included."""
    members: set[str] = set()
    for cls in protocol.__mro__:
        if cls.__module__ != ports.__name__:
            continue  # Protocol, Generic, object
        members |= own_methods(cls) | {n for n in vars(cls).get("__annotations__", {}) if not n.startswith("_")}
    return members


class _ScriptsOnly:
    """Just enough of a Redis client to build a ``JobStore``: nothing is called on it here."""

    def register_script(self, script: str) -> Any:
        return None


def test_every_store_method_is_in_exactly_one_capability() -> None:
    placed: dict[str, list[str]] = {}
    for capability in CAPABILITIES:
        for name in own_methods(capability):
            placed.setdefault(name, []).append(capability.__name__)
    for name in sorted(own_methods(JobStore)):
        assert name in placed, f"JobStore.{name} belongs to no capability in kscribe/ports.py"
    assert {name: owners for name, owners in placed.items() if len(owners) > 1} == {}
    # Nor does a capability promise what the store lacks.
    assert set(placed) <= own_methods(JobStore)


def test_jobs_is_exactly_the_union_of_the_capabilities() -> None:
    assert set(ports.Jobs.__bases__) - {Protocol} == set(CAPABILITIES)
    assert own_methods(ports.Jobs) == set()
    assert "__annotations__" not in vars(ports.Jobs)
    assert protocol_members(ports.Jobs) == set().union(*(protocol_members(c) for c in CAPABILITIES))
    assert own_methods(JobStore) == protocol_members(ports.Jobs) - {"clock"}


@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda c: c.__name__)
def test_the_redis_store_fits_each_capability(capability: type) -> None:
    store = JobStore(_ScriptsOnly(), retention_s=60)  # type: ignore[arg-type]
    assert isinstance(store, capability)
    # isinstance sees names only; the signatures must agree too (parameter names, kinds,
    # defaults, annotations as written), so a caller typed against the capability can call the store.
    for name in own_methods(capability):
        declared = inspect.signature(getattr(capability, name))
        implemented = inspect.signature(getattr(JobStore, name))
        assert implemented == declared, f"{capability.__name__}.{name}{declared} but JobStore.{name}{implemented}"
