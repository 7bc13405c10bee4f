"""Blob store over Google Cloud Storage (or an emulator named by STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from kscribe.errors import InputError, OutputNotWritable, TransientError
from kscribe.storage.base import PIECE_BYTES, BlobInfo, ExactReader, Readable, split_gs

# Transfers stream in pieces of this size, so memory stays flat whatever the object's size.
_CHUNK_BYTES = 8 * 1024 * 1024
# Every call retries transient errors (429, 5xx, connection resets) with exponential backoff
# for up to two minutes, then raises, and no single request waits longer than a minute.
# Writes are retried too: kscribe writes the same bytes under the same name again, so a
# repeated write is harmless (the library retries writes only with a generation match).
_RETRY = DEFAULT_RETRY.with_timeout(120.0)
_TIMEOUT = 60.0


# A streamed write sends pieces of this size; GCS resumable uploads take multiples of 256 KiB.
_STREAM_CHUNK_BYTES = 32 * 256 * 1024


class GcsStore:
    def __init__(self, client: storage.Client | None = None, signing_credentials: Any = None):
        self._client = client
        # Who signs URLs: None is the process's own credentials, looked up per URL (their
        # access token expires). Credentials holding a private key sign without a request.
        self._signing_credentials = signing_credentials

    @property
    def client(self) -> storage.Client:
        # Created on first use: building a client looks up credentials, which takes time.
        if self._client is None:
            self._client = storage.Client()
        return self._client

    def _blob(self, uri: str, chunked: bool = False) -> storage.Blob:
        bucket, name = split_gs(uri)
        return self.client.bucket(bucket).blob(name, chunk_size=_CHUNK_BYTES if chunked else None)

    def stat(self, uri: str) -> BlobInfo | None:
        bucket, name = split_gs(uri)
        blob = self.client.bucket(bucket).get_blob(name, timeout=_TIMEOUT, retry=_RETRY)
        if blob is None:
            return None
        return BlobInfo(
            uri=uri,
            size=int(blob.size or 0),
            generation=str(blob.generation),
            content_type=blob.content_type or "",
            metadata=dict(blob.metadata or {}),
        )

    def download(self, uri: str, dest: Path) -> None:
        try:
            self._blob(uri, chunked=True).download_to_filename(str(dest), timeout=_TIMEOUT, retry=_RETRY)
        except gexc.NotFound as exc:
            raise FileNotFoundError(f"{uri} does not exist") from exc

    def upload(self, src: Path, uri: str, content_type: str = "", metadata: dict[str, str] | None = None) -> None:
        blob = self._blob(uri, chunked=True)
        blob.metadata = metadata or None
        self._guard(
            uri,
            lambda: blob.upload_from_filename(
                str(src), content_type=content_type or None, timeout=_TIMEOUT, retry=_RETRY
            ),
        )

    def read_bytes(self, uri: str) -> bytes:
        try:
            data: bytes = self._blob(uri).download_as_bytes(timeout=_TIMEOUT, retry=_RETRY)
            return data
        except gexc.NotFound as exc:
            raise FileNotFoundError(f"{uri} does not exist") from exc

    def write_bytes(
        self, uri: str, data: bytes, content_type: str = "", metadata: dict[str, str] | None = None
    ) -> None:
        blob = self._blob(uri)
        blob.metadata = metadata or None
        self._guard(
            uri,
            lambda: blob.upload_from_string(
                data, content_type=content_type or "application/octet-stream", timeout=_TIMEOUT, retry=_RETRY
            ),
        )

    def list(self, prefix_uri: str) -> list[str]:
        return sorted(self.iterate(prefix_uri))

    def iterate(self, prefix_uri: str) -> Iterator[str]:
        bucket, prefix = split_gs(prefix_uri)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        # Page by page (GCS lists in name order): the next page is asked for only when needed.
        for b in self.client.list_blobs(bucket, prefix=prefix, timeout=_TIMEOUT, retry=_RETRY):
            yield f"gs://{bucket}/{b.name}"

    def delete_prefix(self, prefix_uri: str) -> None:
        bucket, prefix = split_gs(prefix_uri)
        for blob in self.client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/", timeout=_TIMEOUT, retry=_RETRY):
            try:
                blob.delete(timeout=_TIMEOUT, retry=_RETRY)
            except gexc.NotFound:
                pass  # a concurrent delete got there first

    def local_path(self, uri: str) -> Path | None:
        return None

    def ensure_writable(self, prefix_uri: str) -> None:
        # Permission to write is IAM's to say, and checking costs a request per job; a
        # missing bucket is the mistake worth catching early.
        bucket, _ = split_gs(prefix_uri)
        try:
            exists = self.client.bucket(bucket).exists(timeout=_TIMEOUT, retry=_RETRY)
        except gexc.GoogleAPICallError as exc:
            raise TransientError(f"cannot reach bucket {bucket}: {exc}") from exc
        if not exists:
            raise OutputNotWritable(f"output bucket {bucket} does not exist")

    def read_range(self, uri: str, generation: str, start: int, end: int) -> Iterator[bytes]:
        bucket, name = split_gs(uri)
        blob = self.client.bucket(bucket).blob(name, generation=int(generation) if generation else None)
        position = start
        while position <= end:
            last = min(end, position + PIECE_BYTES - 1)
            yield blob.download_as_bytes(start=position, end=last, timeout=_TIMEOUT)
            position = last + 1

    def write_stream(self, uri: str, stream: Readable, size: int, content_type: str, metadata: dict[str, str]) -> None:
        bucket, name = split_gs(uri)
        blob = self.client.bucket(bucket).blob(name, chunk_size=_STREAM_CHUNK_BYTES)
        blob.metadata = metadata or None
        try:
            # GCS keeps nothing of an upload that never finished: no object, no partial bytes.
            blob.upload_from_file(
                ExactReader(stream, size),
                size=size,
                content_type=content_type or "application/octet-stream",
                if_generation_match=0,  # never over an existing object
                timeout=120,
            )
        except InputError:
            raise
        except ValueError as exc:  # the client library's word for a stream shorter than its size
            raise InputError(f"the upload ended short: {exc}") from None

    def resumable_session(
        self, uri: str, size: int, content_type: str, metadata: dict[str, str], origin: str | None
    ) -> str:
        bucket, name = split_gs(uri)
        blob = self.client.bucket(bucket).blob(name)
        blob.metadata = metadata or None
        url: str = blob.create_resumable_upload_session(
            content_type=content_type or "application/octet-stream",
            size=size,
            origin=origin,
            if_generation_match=0,  # never over an existing object
            timeout=_TIMEOUT,
        )
        return url

    def signed_url(self, uri: str, seconds: float, signer: str = "") -> str:
        """A V4 signed URL. Under Workload Identity there is no private key: IAM's signBlob
        signs as ``signer`` (or the process's own account), which needs
        ``roles/iam.serviceAccountTokenCreator`` on that account."""
        credentials = self._signing_credentials or _default_credentials()
        bucket, name = split_gs(uri)
        blob = self.client.bucket(bucket).blob(name)
        own = getattr(credentials, "service_account_email", "")
        options: dict[str, Any] = {}
        if not hasattr(credentials, "sign_bytes") or (signer and signer != own):
            options = {"service_account_email": signer or own, "access_token": credentials.token}
        url: str = blob.generate_signed_url(
            version="v4",
            expiration=datetime.timedelta(seconds=max(1, int(seconds))),
            method="GET",
            credentials=credentials,
            **options,
        )
        return url

    @staticmethod
    def _guard(uri: str, write: Callable[[], object]) -> None:
        try:
            write()
        except (gexc.Forbidden, gexc.NotFound) as exc:
            raise OutputNotWritable(f"cannot write {uri}: {exc.message}") from exc


def _default_credentials() -> Any:  # pragma: no cover - needs GCP credentials
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    return credentials
