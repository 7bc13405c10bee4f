"""Serve one function as functions-framework does, with a header deadline: a client has
``KSCRIBE_HEADER_TIMEOUT_SECONDS`` (default 10) to send a request's line and headers, and
until then it holds none of the function's threads.

    python functions/http_server.py --source functions/api.py --target api --host 127.0.0.1 --port 8080

functions-framework's gunicorn worker hands a connection to one of its ``THREADS`` as soon
as a byte arrives and parses the headers there: ten clients sending a header byte every few
seconds held every thread of the local api, and nobody else was answered. Here a connection
first waits, on a pool of its own, for the end of its headers (bytes kept for the parser);
one that does not send them in time, or sends more than ``_MAX_HEADER_BYTES``, is closed.
(In production Knative's queue-proxy reads requests before they reach the container.)
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions_framework import create_app
from functions_framework._http.gunicorn import GunicornApplication
from gunicorn.workers.gthread import ThreadWorker

_MAX_HEADER_BYTES = 64 * 1024
# Connections whose headers are awaited at once: each waits on a thread of its own pool,
# never on the function's.
_HEADER_READERS = 128


def header_timeout_s() -> float:
    return float(os.environ.get("KSCRIBE_HEADER_TIMEOUT_SECONDS", "10"))


def read_headers(sock: socket.socket, already: bytes, deadline: float) -> bytes | None:
    """Bytes from ``sock`` until ``already`` plus them hold a blank line ending the headers;
    None when the deadline passes, the peer closes, or the headers grow past the limit."""
    got = b""
    while b"\r\n\r\n" not in already + got:
        if len(already) + len(got) > _MAX_HEADER_BYTES:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            piece = sock.recv(8192)
        except OSError:  # socket.timeout included
            return None
        if not piece:
            return None
        got += piece
    return got


class HeaderDeadlineWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's threaded worker, enqueueing a connection only once its headers are in."""

    def init_process(self) -> None:
        self._header_pool = ThreadPoolExecutor(_HEADER_READERS, thread_name_prefix="headers")
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        if getattr(self.cfg, "is_ssl", False):
            super().enqueue_req(conn)
            return
        self._header_pool.submit(self._await_headers, conn)

    def _await_headers(self, conn: Any) -> None:
        already = conn.parser.unreader.buf.getvalue() if conn.parser is not None else b""
        got = read_headers(conn.sock, already, time.monotonic() + header_timeout_s())
        if got is None:
            self.method_queue.defer(self._drop, conn)
            return
        conn.sock.settimeout(None)
        conn.init()  # blocking again; the parser made (no-op for a kept-alive connection)
        conn.data_ready = True
        # What the parser held already comes first, then what arrived here.
        unreader = conn.parser.unreader
        unreader.buf = io.BytesIO()
        unreader.unread(already + got)
        self.method_queue.defer(ThreadWorker.enqueue_req, self, conn)

    def _drop(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    app = create_app(args.target, args.source)
    GunicornApplication(app, args.host, args.port, False, worker_class=HeaderDeadlineWorker).run()


if __name__ == "__main__":
    main()
