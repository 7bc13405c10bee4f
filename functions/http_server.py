"""Serve one function as functions-framework does, with a header deadline: a client has
``KSCRIBE_HEADER_TIMEOUT_SECONDS`` (default 10) to send a request's line and headers, and
until then it holds none of the function's threads.

    python functions/http_server.py --source functions/api.py --target api --host 127.0.0.1 --port 8080

functions-framework's gunicorn worker hands a connection to one of its ``THREADS`` as soon
as a byte arrives and parses the headers there: ten clients sending a header byte every few
seconds held every thread of the local api, and nobody else was answered. Here a connection
first waits, on one selector thread of its own, for the end of its headers (bytes kept for
the parser); one that does not send them in time from its arrival, or sends more than
``_MAX_HEADER_BYTES``, is closed. After its headers, a connection silent for
``KSCRIBE_BODY_TIMEOUT_SECONDS`` (default 60) is given up too.
(In production Knative's queue-proxy reads requests before they reach the container.)
"""

from __future__ import annotations

import argparse
import io
import os
import selectors
import socket
import threading
import time
from typing import Any

from functions_framework import create_app
from functions_framework._http.gunicorn import GunicornApplication
from gunicorn.workers.gthread import ThreadWorker

_MAX_HEADER_BYTES = 64 * 1024


def header_timeout_s() -> float:
    return float(os.environ.get("KSCRIBE_HEADER_TIMEOUT_SECONDS", "10"))


def body_timeout_s() -> float:
    """How long a connection may stay silent once its headers are in (reading its body,
    or writing its answer to it)."""
    return float(os.environ.get("KSCRIBE_BODY_TIMEOUT_SECONDS", "60"))


class _BoundedSocket(socket.socket):
    """A connection whose blocking mode (gunicorn sets it for reading a request and writing
    its answer) gives up after ``body_timeout_s`` of silence, as nginx's client_body_timeout
    and send_timeout do: a body that stops coming no longer holds a function thread for ever."""

    @classmethod
    def adopt(cls, sock: socket.socket) -> _BoundedSocket:
        return cls(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(body_timeout_s())
        else:
            super().setblocking(False)


class HeaderWatcher:
    """One thread and one selector for every connection whose headers are awaited, each with
    its deadline from its arrival: slow connections hold no thread, so however many there are,
    a request that sends its headers is handed on at once. (A pool of blocking readers, one per
    connection, let 400 slow sockets keep a request waiting their whole deadlines, or past its
    own.)"""

    def __init__(self, worker: HeaderDeadlineWorker):
        self.worker = worker
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._incoming: list[tuple[Any, float]] = []
        self._pending: dict[Any, tuple[bytes, float]] = {}  # conn → (bytes so far, deadline)
        threading.Thread(target=self._run, name="headers", daemon=True).start()

    def add(self, conn: Any) -> None:
        with self._lock:
            self._incoming.append((conn, time.monotonic() + header_timeout_s()))
        try:
            self._wake_w.send(b"x")
        except OSError:  # BlockingIOError: the waker is full, so it is awake anyway
            pass

    def _run(self) -> None:
        while True:
            deadlines = [d for _, d in self._pending.values()]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in self.selector.select(wait):
                if key.data is None:
                    self._take_incoming()
                else:
                    self._read(key.data)
            now = time.monotonic()
            for conn in [c for c, (_, d) in self._pending.items() if d <= now]:
                self._drop(conn)

    def _take_incoming(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for conn, deadline in incoming:
            if conn.parser is None and not isinstance(conn.sock, _BoundedSocket):
                conn.sock = _BoundedSocket.adopt(conn.sock)  # a new connection: nothing else holds it
            already = conn.parser.unreader.buf.getvalue() if conn.parser is not None else b""
            conn.sock.setblocking(False)
            self._pending[conn] = (already, deadline)
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
            if b"\r\n\r\n" in already:  # a kept-alive connection's next request, already read
                self._hand_on(conn)

    def _read(self, conn: Any) -> None:
        try:
            piece = conn.sock.recv(8192)
        except BlockingIOError:
            return
        except OSError:
            piece = b""
        if not piece:
            self._drop(conn)
            return
        got = self._pending[conn][0] + piece
        self._pending[conn] = (got, self._pending[conn][1])
        if b"\r\n\r\n" in got:
            self._hand_on(conn)
        elif len(got) > _MAX_HEADER_BYTES:
            self._drop(conn)

    def _forget(self, conn: Any) -> bytes:
        self.selector.unregister(conn.sock)
        return self._pending.pop(conn)[0]

    def _hand_on(self, conn: Any) -> None:
        got = self._forget(conn)
        conn.sock.setblocking(True)  # for a while only: a _BoundedSocket
        conn.init()  # the parser made (no-op for a kept-alive connection)
        conn.data_ready = True
        # What the parser held already comes first (it is in ``got``), then what arrived here.
        unreader = conn.parser.unreader
        unreader.buf = io.BytesIO()
        unreader.unread(got)
        self.worker.method_queue.defer(ThreadWorker.enqueue_req, self.worker, conn)

    def _drop(self, conn: Any) -> None:
        self._forget(conn)
        self.worker.method_queue.defer(self.worker.drop, conn)


class HeaderDeadlineWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's threaded worker, enqueueing a connection only once its headers are in."""

    def init_process(self) -> None:
        self._headers = HeaderWatcher(self)
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        if getattr(self.cfg, "is_ssl", False):
            super().enqueue_req(conn)
            return
        self._headers.add(conn)

    def drop(self, conn: Any) -> None:
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
