"""The README's settings tables, generated from the fields of ``kscribe/settings/groups.py``.

One table per settings group, headed by the group's docstring; a row per environment variable
with its default and its one-line description. Usage: ``python scripts/settings_table.py``
prints the tables; ``--write`` puts them into README.md between the markers (``make
settings-table``); ``--check`` exits 1 when README.md differs (tests/unit/test_settings_table.py
runs the same comparison).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from kscribe.settings import GROUPS

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- settings tables: generated from kscribe/settings/groups.py by `make settings-table` -->"
END = "<!-- end of settings tables -->"

_BYTE_UNITS = (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def _default(field: dataclasses.Field[Any]) -> str:
    if field.metadata.get("shown"):
        return str(field.metadata["shown"])
    value = field.default
    if value is None:
        return "`auto`"
    if value == "" or value == ():
        return "—"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`"
    if isinstance(value, int) and field.name.endswith("_bytes"):
        for unit, size in _BYTE_UNITS:
            if value >= size:
                return f"{value / size:g} {unit}"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """Every group's table, in the order ``Settings`` inherits them."""
    parts = []
    for group in GROUPS:
        title, _, about = " ".join((group.__doc__ or "").split()).partition(": ")
        rows = [
            f"| `{f.metadata['env']}` | {_default(f)} | {_cell(f.metadata['doc'])} |"
            for f in dataclasses.fields(group)
            if "env" in f.metadata
        ]
        parts.append(
            "\n".join([f"#### {title}", "", about[:1].upper() + about[1:], "", "| variable | default | meaning |"])
            + "\n|---|---|---|\n"
            + "\n".join(rows)
        )
    return "\n\n".join(parts)


def readme_tables(readme: str) -> str:
    """What README.md holds between the markers."""
    try:
        start = readme.index(BEGIN) + len(BEGIN)
        end = readme.index(END, start)
    except ValueError:
        raise SystemExit(f"README.md lacks the settings table markers {BEGIN!r} … {END!r}") from None
    return readme[start:end].strip("\n")


def main(argv: list[str]) -> int:
    tables = render()
    if not argv:
        print(tables)
        return 0
    readme = README.read_text()
    if argv == ["--check"]:
        if readme_tables(readme) == tables:
            return 0
        print("README.md's settings tables differ from kscribe/settings/groups.py: run make settings-table")
        return 1
    if argv == ["--write"]:
        old = readme_tables(readme)
        README.write_text(readme.replace(f"{BEGIN}\n{old}\n", f"{BEGIN}\n{tables}\n", 1))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
