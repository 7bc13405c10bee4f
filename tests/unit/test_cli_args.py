"""The kscribe command's arguments: what it answers before any job starts."""

from importlib import metadata

import pytest

from kscribe.cli.main import main


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"kscribe {metadata.version('kscribe')}"


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--language", "xx", "--model", "base"], "'xx'"), (["--language", "de", "--model", "tiny.en"], "only en")],
)
def test_a_language_the_model_does_not_speak_stops_before_anything_starts(tmp_path, capsys, flags, named):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"not read")
    assert main(["run", str(video), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kscribe: --language ") and named in err, err
