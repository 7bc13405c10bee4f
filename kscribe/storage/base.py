"""The blob-store interface and URI helpers shared by the backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class BlobInfo:
    uri: str
    size: int
    generation: str
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore(Protocol):
    """What kscribe needs from a bucket. Every call takes a full URI of this backend.
    Reading an object that does not exist raises ``FileNotFoundError``, on every backend."""

    def stat(self, uri: str) -> BlobInfo | None: ...

    def download(self, uri: str, dest: Path) -> None: ...

    def upload(self, src: Path, uri: str, content_type: str = "", metadata: dict[str, str] | None = None) -> None: ...

    def read_bytes(self, uri: str) -> bytes: ...

    def write_bytes(
        self, uri: str, data: bytes, content_type: str = "", metadata: dict[str, str] | None = None
    ) -> None: ...

    def list(self, prefix_uri: str) -> list[str]: ...

    def iterate(self, prefix_uri: str) -> Iterator[str]:
        """The objects under ``prefix_uri`` one at a time, as the listing arrives (name order
        within a folder): a caller that wants only the first few never holds the rest."""
        ...

    def delete_prefix(self, prefix_uri: str) -> None:
        """Delete every object under ``prefix_uri`` (missing ones are fine)."""
        ...

    def local_path(self, uri: str) -> Path | None:
        """The file behind ``uri`` if it is on this machine (saves a copy), else None."""
        ...

    def ensure_writable(self, prefix_uri: str) -> None:
        """Raise ``OutputNotWritable`` if objects under ``prefix_uri`` cannot be written."""
        ...


def join(prefix: str, *parts: str) -> str:
    """Join URI parts with single slashes: ``join("gs://b/x/", "y")`` → ``gs://b/x/y``."""
    out = prefix.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def is_within(uri: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/") + "/"
    return uri.startswith(prefix)


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/name`` → (``bucket``, ``some/name``)."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"gs:// URI without a bucket: {uri}")
    return bucket, name
