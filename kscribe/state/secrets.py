"""Secrets kscribe makes for itself and keeps in Redis, where no operator gave one."""

from __future__ import annotations

import secrets
from typing import Any

from kscribe.state import keys
from kscribe.state.client import KeyValue


class SharedSecrets:
    def __init__(self, client: KeyValue):
        self._kv: Any = client

    def link(self) -> str:
        """The result-link key every api process shares: made once, by whichever asks first."""
        self._kv.pipeline().set(keys.link_secret(), secrets.token_hex(32), nx=True).execute()
        return str(self._kv.get(keys.link_secret()))
