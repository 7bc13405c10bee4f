"""Scratch directories that die with their process.

Stages write temporary files (extract's decoded audio, transcribe's chunk downloads) under
``settings.scratch_dir``. A worker killed mid-job (OOM, a pod evicted, ``kill -9``) never
runs its cleanup, so each process works in a directory of its own, ``proc-<pid>-<random>``,
and holds an ``flock`` on its ``.lock`` file for as long as it lives. The kernel drops the
lock when the process dies, however it dies; ``sweep`` removes every directory whose lock it
can take. Several processes share one scratch directory (the local Procfile stack), so:

    process A (starting)                    process B (sweeping)
    mkdir proc-A/                           lists proc-A/, finds its lock free
    open + lock proc-A/.lock                removes proc-A/ under A's feet

is closed by a lock on the scratch directory itself: creating a process directory holds it
shared, a sweep holds it exclusive, so a sweep only ever sees directories that are either
locked by a live process or abandoned.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from kscribe.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "proc-"
LOCK_NAME = ".lock"
_ROOT_LOCK = ".scratch.lock"
# Loose temporary directories written straight into scratch_dir by earlier versions.
LEGACY_PREFIXES = ("extract-", "chunk-")
# Such a directory is in use only while its process writes to it (ffmpeg's output, a chunk
# download); one untouched for this long has no live owner.
LEGACY_IDLE_S = 3600.0

# This process's directory per scratch root, with the open (locked) lock file, and the pid
# that made it: a forked child (gunicorn workers) must not adopt its parent's directory.
_held: dict[Path, tuple[int, Path, IO[str]]] = {}
_held_lock = threading.Lock()


@atexit.register
def _release() -> None:
    # The kernel drops the locks anyway; closing them here keeps exit quiet.
    for pid, _, lock in _held.values():
        if pid == os.getpid():
            lock.close()


def _root_lock(scratch_dir: Path, mode: int) -> IO[str]:
    lock = open(scratch_dir / _ROOT_LOCK, "a")
    fcntl.flock(lock, mode)
    return lock


def process_dir(scratch_dir: Path) -> Path:
    """This process's own directory under ``scratch_dir``, created and locked on first use."""
    # Two threads' first uses at once (two extractions in the local runner) would each make a
    # directory, and the first one's lock file would be dropped unclosed.
    with _held_lock:
        return _process_dir(scratch_dir)


def _process_dir(scratch_dir: Path) -> Path:
    root = Path(scratch_dir).absolute()
    held = _held.get(root)
    if held is not None and held[0] == os.getpid():
        if held[1].is_dir():
            return held[1]
        held[2].close()  # removed by hand: start afresh
    root.mkdir(parents=True, exist_ok=True)
    with _root_lock(root, fcntl.LOCK_SH):
        own = root / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        own.mkdir()
        lock = open(own / LOCK_NAME, "w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held[root] = (os.getpid(), own, lock)
    return own


def _abandoned(directory: Path) -> contextlib.AbstractContextManager[object] | None:
    """The lock of ``directory`` taken by us when no live process holds it, else None."""
    try:
        lock = open(directory / LOCK_NAME, "a")
    except FileNotFoundError:
        # Created by a process that died before it could lock (it held the root lock shared,
        # so it is not still running now that we hold it exclusive).
        return contextlib.nullcontext()
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _idle_for(directory: Path) -> float:
    newest = directory.stat().st_mtime
    for entry in directory.iterdir():
        try:
            newest = max(newest, entry.stat().st_mtime)
        except FileNotFoundError:
            continue
    return time.time() - newest


def sweep(scratch_dir: Path) -> list[Path]:
    """Remove what dead processes left in ``scratch_dir``; return what was removed.

    Safe to run while other processes work there: a directory whose lock is held is never
    touched, nor a legacy ``extract-*``/``chunk-*`` directory changed in the last hour."""
    root = Path(scratch_dir).absolute()
    if not root.is_dir():
        return []
    removed = []
    with _root_lock(root, fcntl.LOCK_EX):
        for entry in sorted(root.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                continue
            if entry.name.startswith(PREFIX):
                lock = _abandoned(entry)
                if lock is None:
                    continue
                with lock:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(LEGACY_PREFIXES):
                try:
                    if _idle_for(entry) < LEGACY_IDLE_S:
                        continue
                except FileNotFoundError:
                    continue
                shutil.rmtree(entry, ignore_errors=True)
            else:
                continue
            removed.append(entry)
    if removed:
        log.info(
            "removed %d scratch director%s left by stopped processes in %s",
            len(removed),
            "y" if len(removed) == 1 else "ies",
            root,
        )
    return removed


def prepare(settings: Settings) -> Path:
    """At a process's start: clear what dead processes left in ``settings.scratch_dir`` and
    return this process's own directory there."""
    own = process_dir(settings.scratch_dir)
    sweep(settings.scratch_dir)
    return own
