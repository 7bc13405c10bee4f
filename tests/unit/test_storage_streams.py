"""The local backend's ranged reads, streamed writes, and its clear refusals of what only a
bucket can do (upload sessions, signed URLs)."""

from __future__ import annotations

import io
import os

import pytest

from kscribe.errors import ConfigError, InputError
from kscribe.storage import Blobs, NotSupported
from kscribe.storage.base import PIECE_BYTES


class _Trickle(io.RawIOBase):
    """A socket-like body: each read returns at most a few bytes."""

    def __init__(self, data: bytes, most: int = 7):
        self.data, self.most = data, most

    def read(self, n: int = -1, /) -> bytes:
        piece, self.data = self.data[: min(n, self.most)], self.data[min(n, self.most) :]
        return piece


def test_a_ranged_read_yields_exactly_the_range_in_pieces(tmp_path):
    data = bytes(range(256)) * (PIECE_BYTES // 128)  # two pieces' worth
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    blobs = Blobs()
    generation = blobs.stat(str(path)).generation
    pieces = list(blobs.read_range(str(path), generation, 3, len(data) - 2))
    assert b"".join(pieces) == data[3:-1] and len(pieces) == 2
    assert b"".join(blobs.read_range(str(path), generation, 10, 10)) == data[10:11]


def test_a_streamed_write_stores_exactly_its_size_with_its_metadata(tmp_path):
    uri = str(tmp_path / "web" / "u1" / "talk.mp4")
    blobs = Blobs()
    blobs.write_stream(uri, _Trickle(b"x" * 1000 + b"extra"), 1000, "video/mp4", {"kscribe-upload": "u1"})
    info = blobs.stat(uri)
    assert info.size == 1000 and blobs.read_bytes(uri) == b"x" * 1000
    # Metadata is kept where the filesystem has user xattrs, as for every other local write.
    assert info.metadata == ({"kscribe-upload": "u1"} if _has_xattrs(tmp_path) else {})


def _has_xattrs(folder) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    return True


def test_a_short_stream_leaves_nothing_and_an_existing_object_is_never_overwritten(tmp_path):
    uri = str(tmp_path / "talk.mp4")
    blobs = Blobs()
    with pytest.raises(InputError, match="ended 10 bytes short"):
        blobs.write_stream(uri, io.BytesIO(b"y" * 90), 100, "video/mp4", {})
    assert blobs.stat(uri) is None
    blobs.write_stream(uri, io.BytesIO(b"z" * 5), 5, "video/mp4", {})
    with pytest.raises(FileExistsError):
        blobs.write_stream(uri, io.BytesIO(b"w" * 5), 5, "video/mp4", {})
    assert blobs.read_bytes(uri) == b"z" * 5


def test_sessions_and_signed_urls_are_refused_locally_with_the_setting_that_avoids_them(tmp_path):
    uri = str(tmp_path / "out.srt")
    blobs = Blobs()
    with pytest.raises(NotSupported, match="KSCRIBE_WEB_UPLOADS=api"):
        blobs.resumable_session(uri, 10, "video/mp4", {}, "https://page.example")
    with pytest.raises(NotSupported, match="KSCRIBE_LINKS=api") as refused:
        blobs.signed_url(uri, 60)
    assert isinstance(refused.value, ConfigError)
