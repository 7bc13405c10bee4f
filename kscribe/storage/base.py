"""The blob-store interface and URI helpers shared by the backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kscribe.errors import ConfigError, InputError

# Reads and streamed writes move pieces of this size: memory stays flat whatever the object's size.
PIECE_BYTES = 1024 * 1024


class Readable(Protocol):
    """What a streamed write reads from: a file, a request body, a counting wrapper."""

    def read(self, n: int = -1, /) -> bytes: ...


class ExactReader:
    """Exactly ``size`` bytes of ``stream``: short input raises ``InputError`` instead of
    storing less, and a read of ``n`` bytes gets ``n`` (fewer only at the end), as a request
    body's socket may not."""

    def __init__(self, stream: Readable, size: int):
        self.stream, self.size, self.left = stream, size, size

    def tell(self) -> int:
        """Bytes read so far (a resumable upload asks before it starts)."""
        return self.size - self.left

    def read(self, n: int = -1, /) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        parts: list[bytes] = []
        while want > 0:
            data = self.stream.read(min(want, PIECE_BYTES))
            if not data:
                raise InputError(f"the upload ended {self.left} bytes short")
            parts.append(data)
            self.left -= len(data)
            want -= len(data)
        return b"".join(parts)


class NotSupported(ConfigError):
    """This backend cannot do what the configuration asks of it (a signed URL of a local file)."""


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

    def read_range(self, uri: str, generation: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive) of one generation of ``uri``, a piece at a time."""
        ...

    def write_stream(self, uri: str, stream: Readable, size: int, content_type: str, metadata: dict[str, str]) -> None:
        """Store ``size`` bytes read from ``stream`` as a new object, a piece at a time (never
        whole in memory) and never over an existing one; nothing is left of a write that fails.
        A stream that ends short raises ``InputError``."""
        ...

    def resumable_session(
        self, uri: str, size: int, content_type: str, metadata: dict[str, str], origin: str | None
    ) -> str:
        """The URL of an upload session a browser PUTs exactly ``size`` bytes of a new object to
        (CORS for ``origin``), and resumes after a break; ``NotSupported`` where there is none."""
        ...

    def signed_url(self, uri: str, seconds: float, signer: str = "") -> str:
        """A GET URL for ``uri`` that needs no credentials for ``seconds``, signed as the
        service account ``signer`` (empty: the process's own); ``NotSupported`` where there is none."""
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
