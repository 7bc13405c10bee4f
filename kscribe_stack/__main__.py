"""`python -m kscribe_stack submit VIDEO…` (`make submit`): send files through the running local
stack (its input bucket, ingest) and follow their jobs. Takes the job flags of `kscribe run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kscribe.cli.main import add_job_flags
from kscribe.errors import ConfigError
from kscribe.settings import Settings
from kscribe_stack import submit


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kscribe_stack", description="kscribe's local stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser(
        "submit", help="upload files to the input bucket of a running stack (Procfile) and follow their jobs"
    )
    cmd.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    add_job_flags(cmd)
    cmd.add_argument("--no-wait", action="store_true", help="return once ingest has the notification")
    cmd.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="copy each finished job's outputs into this directory and print those paths (default: out/)",
    )
    cmd.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the jobs (default 3600)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return submit.follow(args, Settings.from_env())
    except ConfigError as exc:
        print(f"kscribe: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
