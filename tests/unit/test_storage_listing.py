"""Local listings: ``iterate`` yields what ``list`` returns, one at a time."""

from __future__ import annotations

import itertools

from kscribe.storage import Blobs


def test_iterate_yields_every_file_once_and_follows_no_folder_link(tmp_path):
    root = tmp_path / "in"
    for name in ("b.mp4", "a/z.mp4", "a/b/c.wav", "c.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link").symlink_to(outside, target_is_directory=True)
    blobs = Blobs()
    listed = list(blobs.iterate(str(root)))
    assert sorted(listed) == blobs.list(str(root)) and len(listed) == 4
    assert not any("secret" in p for p in listed)
    assert list(blobs.iterate(str(tmp_path / "missing"))) == []
    # Lazy: taking two reads no further than it needs.
    assert len(list(itertools.islice(blobs.iterate(str(root)), 2))) == 2
