"""How a setting is declared and read: ``setting(...)`` fields and the parsers they name.

A field's metadata holds its environment variable, its parser and a one-line description;
``scripts/settings_table.py`` renders the README's settings tables from that metadata.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from kscribe.errors import ConfigError

# How a setting is read from its environment variable: (variable name, raw value) → value.
Parse = Callable[[str, str], object]


def setting(
    env: str,
    default: Any = dataclasses.MISSING,
    parse: Parse | None = None,
    *,
    doc: str,
    shown: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A settings field read from ``env`` with ``parse`` when set and not empty.

    ``doc`` is its one-line description; ``shown`` its default as the README shows it, where
    the value alone would not say it (a default decided at start, a size, a duration).
    """
    metadata = {"env": env, "parse": parse or text, "doc": doc, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def fixed(default: Any, *, doc: str) -> Any:
    """A settings field no environment variable sets (tests and callers may still replace it)."""
    return field(default=default, metadata={"doc": doc})


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _number(name: str, raw: str, kind: type[int] | type[float], minimum: float) -> int | float:
    try:
        value: int | float = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def at_least(kind: type[int] | type[float], minimum: float) -> Parse:
    return lambda name, raw: _number(name, raw, kind, minimum)


def number(kind: type[int] | type[float]) -> Parse:
    """Any number: its bounds are checked with the option's own parser (``Settings.check``)."""
    return at_least(kind, -1e9)


def auto_or(kind: type[int] | type[float], minimum: float) -> Parse:
    """``auto`` (None: the code that uses it decides) or a number."""
    parse = at_least(kind, minimum)
    return lambda name, raw: None if raw.strip().lower() == "auto" else parse(name, raw)


def text(name: str, raw: str) -> str:
    return raw


def stripped(name: str, raw: str) -> str:
    return raw.strip()


def comma_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def path(name: str, raw: str) -> Path:
    return Path(raw)
