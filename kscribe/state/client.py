"""The Redis commands kscribe uses, as a Protocol: a ``redis.Redis`` made with
``decode_responses=True`` fits it. Only kscribe/state/ and the stores built over it hold one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class KeyValue(Protocol):
    """The few Redis commands behind tenants, API keys, rate limits and health checks.

    Answers are ``Any`` because redis-py cannot know the client decodes responses; every
    client kscribe builds does (``embedded_redis.connect``), so callers read ``str``s.
    """

    def ping(self) -> Any: ...

    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: str, *, nx: bool = False, px: int | None = None) -> Any: ...

    def hgetall(self, name: str) -> Any: ...

    # Mapping's key type is invariant: Any lets redis-py's wider field type fit.
    def hset(
        self, name: str, key: str | None = None, value: str | None = None, mapping: Mapping[Any, Any] | None = None
    ) -> Any: ...

    def hsetnx(self, name: str, key: str, value: str) -> Any: ...

    def sadd(self, name: str, *values: str) -> Any: ...

    def smembers(self, name: str) -> Any: ...

    def register_script(self, script: str) -> Callable[..., Any]: ...

    def pipeline(self) -> Any: ...
