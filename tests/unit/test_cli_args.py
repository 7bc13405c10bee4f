"""The kscribe command's arguments: what it answers before any job starts."""

from importlib import metadata

import pytest

from kscribe.cli.main import main


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"kscribe {metadata.version('kscribe')}"
