"""google-cloud-storage is used only inside kscribe/storage/: everything else goes through the
BlobStore port. import-linter cannot say this (its forbidden contracts take whole external
packages, ``google``, not ``google.cloud.storage``), so this test reads every import."""

from __future__ import annotations

import ast
from pathlib import Path

KSCRIBE = Path(__file__).resolve().parents[2] / "kscribe"
FORBIDDEN = "google.cloud.storage"


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):  # every import, inside functions too
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return names


def _uses_storage_client(path: Path) -> bool:
    return any(name == FORBIDDEN or name.startswith(FORBIDDEN + ".") for name in _imported(ast.parse(path.read_text())))


def test_only_the_storage_package_imports_the_gcs_client():
    offenders = [
        str(path.relative_to(KSCRIBE.parent))
        for path in sorted(KSCRIBE.rglob("*.py"))
        if not path.is_relative_to(KSCRIBE / "storage") and _uses_storage_client(path)
    ]
    assert offenders == [], "use the BlobStore port (kscribe/storage/base.py) instead"


def test_the_check_sees_every_spelling_of_the_import(tmp_path):
    for source in (
        "from google.cloud import storage",
        "import google.cloud.storage",
        "def f():\n    from google.cloud.storage import Blob\n",
    ):
        (tmp_path / "m.py").write_text(source)
        assert _uses_storage_client(tmp_path / "m.py"), source
    (tmp_path / "m.py").write_text("from google.cloud import pubsub\nimport google.auth\n")
    assert not _uses_storage_client(tmp_path / "m.py")
    assert _uses_storage_client(KSCRIBE / "storage" / "gcs.py")
