"""README.md's settings tables are what scripts/settings_table.py makes of the settings' fields."""

import dataclasses

from kscribe.settings import GROUPS, Settings
from scripts import settings_table


def test_readme_tables_are_generated_from_the_fields():
    readme = settings_table.README.read_text()
    assert settings_table.readme_tables(readme) == settings_table.render(), (
        "README.md's settings tables differ from kscribe/settings/groups.py: run make settings-table"
    )


def test_every_setting_has_one_variable_and_a_description():
    fields = dataclasses.fields(Settings)
    variables = [f.metadata["env"] for f in fields if "env" in f.metadata]
    assert len(variables) == len(set(variables)) > 90
    assert all(f.metadata.get("doc") and "\n" not in f.metadata["doc"] for f in fields)
    for group in GROUPS:
        assert group.__doc__ and ": " in group.__doc__, f"{group.__name__} needs a 'Title: what it holds' docstring"


def test_settings_inherit_every_group_and_nothing_else():
    # GROUPS is Settings' bases; no field is declared on Settings itself.
    declared = [f.name for group in GROUPS for f in dataclasses.fields(group)]
    assert sorted(declared) == sorted(f.name for f in dataclasses.fields(Settings))


def test_a_description_edited_without_regenerating_fails_the_check(tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    text = settings_table.README.read_text()
    readme.write_text(text.replace("| `KSCRIBE_MODEL` | `tiny.en` |", "| `KSCRIBE_MODEL` | `base` |"))
    monkeypatch.setattr(settings_table, "README", readme)
    assert settings_table.main(["--check"]) == 1
    assert "run make settings-table" in capsys.readouterr().out
    assert settings_table.main(["--write"]) == 0
    assert readme.read_text() == text
