"""KSCRIBE_FFMPEG names the ffmpeg kscribe runs; without it, ffmpeg on PATH, else imageio-ffmpeg's."""

from __future__ import annotations

import shutil
import subprocess

import imageio_ffmpeg
import pytest

from kscribe.errors import ConfigError
from kscribe.media import ffmpeg_bin
from kscribe.runtime import wiring
from kscribe.settings import Settings


@pytest.fixture(autouse=True)
def _found_again():
    yield
    ffmpeg_bin.use("")


def test_the_named_ffmpeg_is_the_one_run(tmp_path, redis_client):
    named = tmp_path / "bin" / "my-ffmpeg"
    named.parent.mkdir()
    named.symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    settings = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path / "data"), "KSCRIBE_FFMPEG": str(named)})
    wiring.create_context(settings, client=redis_client)
    assert ffmpeg_bin.ffmpeg_executable() == str(named)
    assert b"ffmpeg version" in subprocess.run([ffmpeg_bin.ffmpeg_executable(), "-version"], capture_output=True).stdout


def test_without_a_name_path_then_the_bundled_binary(monkeypatch, tmp_path):
    ffmpeg_bin.use("")
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg here
    ffmpeg_bin.ffmpeg_executable.cache_clear()
    assert ffmpeg_bin.ffmpeg_executable() == imageio_ffmpeg.get_ffmpeg_exe()
    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    ffmpeg_bin.ffmpeg_executable.cache_clear()
    assert ffmpeg_bin.ffmpeg_executable() == shutil.which("ffmpeg") == str(tmp_path / "ffmpeg")
    ffmpeg_bin.ffmpeg_executable.cache_clear()


def test_a_name_that_is_no_executable_stops_the_process_at_start(tmp_path, redis_client):
    settings = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), "KSCRIBE_FFMPEG": str(tmp_path / "nothing")})
    with pytest.raises(ConfigError, match="KSCRIBE_FFMPEG: .*nothing' is not an executable"):
        wiring.create_context(settings, client=redis_client)
