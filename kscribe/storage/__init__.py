"""Blob storage addressed by URI: local paths (or file://) and gs://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kscribe.storage.base import BlobInfo, BlobStore, NotSupported, Readable, is_within, join, split_gs
from kscribe.storage.local import LocalStore

__all__ = ["BlobInfo", "BlobStore", "Blobs", "NotSupported", "Readable", "is_within", "join", "split_gs"]


class Blobs:
    """Routes each call to the backend its URI names. The GCS client is made on first use."""

    def __init__(self, gcs: BlobStore | None = None):
        self._local = LocalStore()
        self._gcs = gcs

    def backend(self, uri: str) -> BlobStore:
        if uri.startswith("gs://"):
            if self._gcs is None:
                from kscribe.storage.gcs import GcsStore

                self._gcs = GcsStore()
            return self._gcs
        return self._local

    def stat(self, uri: str) -> BlobInfo | None:
        return self.backend(uri).stat(uri)

    def download(self, uri: str, dest: Path) -> None:
        self.backend(uri).download(uri, dest)

    def upload(self, src: Path, uri: str, content_type: str = "", metadata: dict[str, str] | None = None) -> None:
        self.backend(uri).upload(src, uri, content_type, metadata)

    def read_bytes(self, uri: str) -> bytes:
        return self.backend(uri).read_bytes(uri)

    def write_bytes(
        self, uri: str, data: bytes, content_type: str = "", metadata: dict[str, str] | None = None
    ) -> None:
        self.backend(uri).write_bytes(uri, data, content_type, metadata)

    def list(self, prefix_uri: str) -> list[str]:
        return self.backend(prefix_uri).list(prefix_uri)

    def iterate(self, prefix_uri: str) -> Iterator[str]:
        return self.backend(prefix_uri).iterate(prefix_uri)

    def delete_prefix(self, prefix_uri: str) -> None:
        self.backend(prefix_uri).delete_prefix(prefix_uri)

    def local_path(self, uri: str) -> Path | None:
        return self.backend(uri).local_path(uri)

    def ensure_writable(self, prefix_uri: str) -> None:
        self.backend(prefix_uri).ensure_writable(prefix_uri)

    def read_range(self, uri: str, generation: str, start: int, end: int) -> Iterator[bytes]:
        return self.backend(uri).read_range(uri, generation, start, end)

    def write_stream(self, uri: str, stream: Readable, size: int, content_type: str, metadata: dict[str, str]) -> None:
        self.backend(uri).write_stream(uri, stream, size, content_type, metadata)

    def resumable_session(
        self, uri: str, size: int, content_type: str, metadata: dict[str, str], origin: str | None
    ) -> str:
        return self.backend(uri).resumable_session(uri, size, content_type, metadata, origin)

    def signed_url(self, uri: str, seconds: float, signer: str = "") -> str:
        return self.backend(uri).signed_url(uri, seconds, signer)
