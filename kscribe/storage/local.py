"""Blob store over local directories: a directory plays a bucket, paths are URIs."""

from __future__ import annotations

import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from kscribe.errors import OutputNotWritable
from kscribe.storage.base import PIECE_BYTES, BlobInfo, ExactReader, NotSupported, Readable

# Object metadata lives in user extended attributes where the filesystem has them. Nothing
# depends on it locally: ingest also recognises kscribe's own files by their directory.
_XATTR_PREFIX = "user."
# Files are created 0600 by mkstemp; give them the usual mode, as open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _path(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def _atomic_write(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    # A killed process leaves a temp file, never a half-written object under the real name.
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path)
        return {n[len(_XATTR_PREFIX) :]: os.getxattr(path, n).decode() for n in names if n.startswith(_XATTR_PREFIX)}
    except OSError:
        return {}


def _write_xattrs(path: Path, metadata: dict[str, str]) -> None:
    for key, value in metadata.items():
        try:
            os.setxattr(path, _XATTR_PREFIX + key, value.encode())
        except OSError:
            return  # filesystem without user xattrs


class LocalStore:
    def stat(self, uri: str) -> BlobInfo | None:
        path = _path(uri)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        content_type = mimetypes.guess_type(path.name)[0] or ""
        metadata = _read_xattrs(path)
        # The modification time plays GCS's generation: rewriting a file makes a new one.
        return BlobInfo(
            uri=str(path), size=st.st_size, generation=str(st.st_mtime_ns), content_type=content_type, metadata=metadata
        )

    def download(self, uri: str, dest: Path) -> None:
        shutil.copyfile(_path(uri), dest)

    def upload(self, src: Path, uri: str, content_type: str = "", metadata: dict[str, str] | None = None) -> None:
        with open(src, "rb") as source:
            self._write(uri, lambda out: shutil.copyfileobj(source, out, 1 << 20), metadata)

    def read_bytes(self, uri: str) -> bytes:
        return _path(uri).read_bytes()

    def write_bytes(
        self, uri: str, data: bytes, content_type: str = "", metadata: dict[str, str] | None = None
    ) -> None:
        self._write(uri, lambda out: out.write(data), metadata)

    def _write(self, uri: str, write: Callable[[BinaryIO], object], metadata: dict[str, str] | None) -> None:
        dest = _path(uri)
        try:
            _atomic_write(dest, write)
            _write_xattrs(dest, metadata or {})
        except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise OutputNotWritable(f"cannot write {dest}: {exc.strerror or exc}") from exc

    def list(self, prefix_uri: str) -> list[str]:
        root = _path(prefix_uri)
        if not root.is_dir():
            return []
        return sorted(str(p) for p in root.rglob("*") if p.is_file())

    def iterate(self, prefix_uri: str) -> Iterator[str]:
        # A folder at a time, links to folders not followed (as ``list``).
        for folder, subfolders, names in os.walk(_path(prefix_uri)):
            subfolders.sort()
            for name in sorted(names):
                if os.path.isfile(path := os.path.join(folder, name)):
                    yield path

    def delete_prefix(self, prefix_uri: str) -> None:
        shutil.rmtree(_path(prefix_uri), ignore_errors=True)

    def local_path(self, uri: str) -> Path | None:
        return _path(uri)

    def ensure_writable(self, prefix_uri: str) -> None:
        root = _path(prefix_uri)
        try:
            root.mkdir(parents=True, exist_ok=True)
            # Root passes os.access checks everywhere, so try a real write.
            with tempfile.TemporaryFile(dir=root):
                pass
        except OSError as exc:
            raise OutputNotWritable(f"cannot write to {root}: {exc.strerror or exc}") from exc

    def read_range(self, uri: str, generation: str, start: int, end: int) -> Iterator[bytes]:
        # A file has one generation: the one ``stat`` reported, unless rewritten since.
        position = start
        with _path(uri).open("rb") as f:
            f.seek(start)
            while position <= end and (piece := f.read(min(PIECE_BYTES, end + 1 - position))):
                position += len(piece)
                yield piece

    def write_stream(self, uri: str, stream: Readable, size: int, content_type: str, metadata: dict[str, str]) -> None:
        path = _path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        reader = ExactReader(stream, size)
        out = path.open("xb")  # never over an existing object
        try:
            with out:
                while piece := reader.read(PIECE_BYTES):
                    out.write(piece)
        except BaseException:
            # Nothing half-stored, whatever stopped it (a short body, a dropped connection, a
            # read timeout): the upload may be sent again.
            path.unlink(missing_ok=True)
            raise
        _write_xattrs(path, metadata)

    def resumable_session(
        self, uri: str, size: int, content_type: str, metadata: dict[str, str], origin: str | None
    ) -> str:
        raise NotSupported(
            f"{uri} is a local path: a browser cannot upload to it directly (KSCRIBE_WEB_UPLOADS=api streams "
            "uploads through the api)"
        )

    def signed_url(self, uri: str, seconds: float, signer: str = "") -> str:
        raise NotSupported(
            f"{uri} is a local path: no signed URL can reach it (KSCRIBE_LINKS=api serves links through the api)"
        )
