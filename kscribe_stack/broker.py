"""A local stand-in for the Knative Broker: accepts CloudEvents over HTTP, answers 202, and
delivers each to the services whose Trigger filter matches its attributes (its type, and any
extension attribute the filter lists, exactly as Knative's ``filter.attributes``), with the Trigger's retries,
backoff and dead-letter sink; and a stand-in for PingSources, posting each one's ping event
to its sink on schedule.

    python -m kscribe_stack.broker --port 8080 --services ingest=http://127.0.0.1:8081,...

Every subscriber has a bounded pool of its own (``--workers-per-service``), so a slow one (a
transcription, a callback receiver that hangs) holds only its own deliveries. A retry waits
on a timer, never in a worker: one scheduler thread hands the attempt back to the pool when
its backoff is over. Everything is in memory, as in a broker pod without persistence: a
killed broker loses what it held, and the reconciler re-drives those jobs.

``--duplicate`` delivers every event twice, each after a random delay, to drill the
functions' idempotency under duplicate and out-of-order delivery. ``--ping-seconds N`` posts
every PingSource's event every N seconds instead of on its schedule.
"""

from __future__ import annotations

import argparse
import base64
import functools
import heapq
import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from kscribe_stack.triggers import Ping, Route, load_pings, load_routes

log = logging.getLogger("kscribe.broker")
DELIVERY_TIMEOUT_S = 900  # a transcription may take minutes on CPU
PING_TYPE = "dev.knative.sources.ping"


class Scheduler:
    """Runs callables at a time to come, on one thread, in due order. A callable must be
    quick (it hands work to a pool)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._closed = False
        self._wake = threading.Condition()
        threading.Thread(target=self._run, daemon=True, name="scheduler").start()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + max(delay_s, 0.0), next(self._seq), fn))
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("scheduled call failed")


class Broker:
    def __init__(
        self,
        routes: list[Route],
        services: dict[str, str],
        duplicate: bool = False,
        backoff_scale: float = 1.0,
        workers_per_service: int = 8,
        pings: Sequence[Ping] = (),
        ping_seconds: float | None = None,
    ):
        self.routes = routes
        self.services = services
        self.duplicate = duplicate
        self.backoff_scale = backoff_scale
        self.scheduler = Scheduler()
        self.pools = {
            name: ThreadPoolExecutor(max_workers=workers_per_service, thread_name_prefix=f"to-{name}")
            for name in services
        }
        self._local = threading.local()
        self.rng = random.Random(0)
        missing = {r.service for r in routes} - set(services)
        if missing:
            raise SystemExit(f"no address for service(s) {', '.join(sorted(missing))}: pass --services")
        self.pings = []
        for ping in pings:
            if ping.service not in services:
                log.warning(
                    "PingSource %s: no address for service %s (pass it in --services); not pinging",
                    ping.name,
                    ping.service,
                )
                continue
            self.pings.append(ping)
            period = ping_seconds or ping.period_s
            log.info("ping %s → %s every %g s", ping.name, ping.service, period)
            self.scheduler.call_later(period, functools.partial(self._ping, ping, period))

    def close(self) -> None:
        """Drop what is scheduled and wait for deliveries under way (tests)."""
        self.scheduler.close()
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # a Session is not safe to share between threads
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def accept(self, event: CloudEvent) -> None:
        attributes = event.get_attributes()
        for route in self.routes:
            if not route.matches(attributes):
                continue
            for _ in range(2 if self.duplicate else 1):
                delay = self.rng.uniform(0, 0.5) if self.duplicate else 0.0
                self.scheduler.call_later(delay, functools.partial(self._submit, route, event, 0))

    def _submit(self, route: Route, event: CloudEvent, attempt: int) -> None:
        self.pools[route.service].submit(self._attempt, route, event, attempt)

    def _post(self, url: str, event: CloudEvent) -> tuple[int, str]:
        headers, body = to_binary(event)
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_S)
            return response.status_code, response.text
        except requests.RequestException as exc:
            return 0, str(exc)

    def _attempt(self, route: Route, event: CloudEvent, attempt: int) -> None:
        url = self.services[route.service]
        code, text = self._post(url, event)
        log.info("delivered %s %s to %s: %s", event["type"], event["id"], route.service, code)
        if 200 <= code < 300:
            return
        if attempt < route.delivery.retry:
            delay = route.delivery.delay_s(attempt) * self.backoff_scale
            log.warning(
                "%s → %s answered %s; retry %d in %.1f s", event["type"], route.service, code, attempt + 1, delay
            )
            self.scheduler.call_later(delay, lambda: self._submit(route, event, attempt + 1))
            return
        log.error(
            "%s %s: gave up on %s after %d attempts",
            event["type"],
            event["id"],
            route.service,
            route.delivery.retry + 1,
        )
        sink = route.delivery.dead_letter_service
        if sink:
            attributes = dict(event.get_attributes())
            # The extensions a Knative broker adds to dead-lettered events.
            attributes.update(
                knativeerrordest=url,
                knativeerrorcode=str(code),
                knativeerrordata=base64.b64encode(text[:1024].encode()).decode(),
            )
            address = self.services[sink].rstrip("/") + "/" + route.delivery.dead_letter_path.lstrip("/")
            self.pools[sink].submit(self._dead_letter, sink, address, CloudEvent(attributes, event.data))

    def _dead_letter(self, sink: str, address: str, event: CloudEvent) -> None:
        code, _ = self._post(address, event)
        log.info("dead-lettered %s %s to %s: %s", event["type"], event["id"], sink, code)

    def _ping(self, ping: Ping, period_s: float) -> None:
        self.scheduler.call_later(period_s, lambda: self._ping(ping, period_s))
        attributes = {
            "type": PING_TYPE,
            "source": ping.source,
            "id": str(uuid.uuid4()),
            "time": datetime.now(UTC).isoformat(),
        }
        if ping.content_type:
            attributes["datacontenttype"] = ping.content_type
        event = CloudEvent(attributes, ping.data or None)
        # A ping is not retried (a PingSource's next tick is the retry).
        self.pools[ping.service].submit(self._send_ping, ping, event)

    def _send_ping(self, ping: Ping, event: CloudEvent) -> None:
        code, text = self._post(self.services[ping.service], event)
        (log.info if 200 <= code < 300 else log.warning)(
            "ping %s to %s: %s %s", ping.name, ping.service, code, "" if 200 <= code < 300 else text[:200]
        )


def _handler(broker: Broker):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = from_http(dict(self.headers), body)
            except Exception as exc:
                self.send_error(400, f"not a CloudEvent: {exc}")
                return
            broker.accept(event)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            self.send_response(200 if self.path.startswith("/health") else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            log.debug(format, *args)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="local Knative-style broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--services", required=True, help="name=url,... for every Trigger subscriber")
    parser.add_argument("--duplicate", action="store_true", help="deliver every event twice, reordered")
    parser.add_argument("--backoff-scale", type=float, default=1.0, help="multiply retry delays (tests)")
    parser.add_argument("--workers-per-service", type=int, default=8, help="concurrent deliveries per subscriber")
    parser.add_argument("--ping-seconds", type=float, default=None, help="post PingSource events every N s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = {
        name: url
        for name, url in (pair.split("=", 1) for pair in args.services.split(",") if pair)
        if url.rsplit(":", 1)[-1].strip("/")
    }  # a service whose port is unset is not running
    routes = load_routes()
    broker = Broker(
        routes,
        services,
        duplicate=args.duplicate,
        backoff_scale=args.backoff_scale,
        workers_per_service=args.workers_per_service,
        pings=load_pings(),
        ping_seconds=args.ping_seconds,
    )
    for r in routes:
        log.info("route %s: %s → %s (%s)", r.name, dict(r.attributes), r.service, services[r.service])
    server = ThreadingHTTPServer((args.host, args.port), _handler(broker))
    log.info("broker listening on http://%s:%d", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
