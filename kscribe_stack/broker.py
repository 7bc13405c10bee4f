"""A local stand-in for the Knative Broker: accepts CloudEvents over HTTP, answers 202, and
delivers each to the services whose Trigger matches its type, with the Trigger's retries,
backoff and dead-letter sink.

    python -m kscribe_stack.broker --port 8080 --services ingest=http://127.0.0.1:8081,...

``--duplicate`` delivers every event twice, each after a random delay, to drill the
functions' idempotency under duplicate and out-of-order delivery.
"""

from __future__ import annotations

import argparse
import base64
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from kscribe_stack.triggers import Route, load_routes

log = logging.getLogger("kscribe.broker")
DELIVERY_TIMEOUT_S = 900  # a transcription may take minutes on CPU


class Broker:
    def __init__(
        self,
        routes: list[Route],
        services: dict[str, str],
        duplicate: bool = False,
        backoff_scale: float = 1.0,
        workers: int = 16,
    ):
        self.routes = routes
        self.services = services
        self.duplicate = duplicate
        self.backoff_scale = backoff_scale
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self.session = requests.Session()
        self.rng = random.Random(0)
        missing = {r.service for r in routes} - set(services)
        if missing:
            raise SystemExit(f"no address for service(s) {', '.join(sorted(missing))}: pass --services")

    def accept(self, event: CloudEvent) -> None:
        for route in self.routes:
            if route.event_type != event["type"]:
                continue
            copies = 2 if self.duplicate else 1
            for _ in range(copies):
                delay = self.rng.uniform(0, 0.5) if self.duplicate else 0.0
                threading.Timer(delay, self.pool.submit, args=(self._deliver, route, event)).start()

    def _post(self, url: str, event: CloudEvent) -> tuple[int, str]:
        headers, body = to_binary(event)
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_S)
            return response.status_code, response.text
        except requests.RequestException as exc:
            return 0, str(exc)

    def _deliver(self, route: Route, event: CloudEvent) -> None:
        url = self.services[route.service]
        code, text = 0, ""
        for attempt in range(route.delivery.retry + 1):
            code, text = self._post(url, event)
            log.info("delivered %s %s to %s: %s", event["type"], event["id"], route.service, code)
            if 200 <= code < 300:
                return
            if attempt < route.delivery.retry:
                delay = route.delivery.delay_s(attempt) * self.backoff_scale
                log.warning(
                    "%s → %s answered %s; retry %d in %.1f s", event["type"], route.service, code, attempt + 1, delay
                )
                time.sleep(delay)
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
            self._post(self.services[sink], CloudEvent(attributes, event.data))


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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = dict(pair.split("=", 1) for pair in args.services.split(",") if pair)
    routes = load_routes()
    broker = Broker(routes, services, duplicate=args.duplicate, backoff_scale=args.backoff_scale)
    for r in routes:
        log.info("route %s: %s → %s (%s)", r.name, r.event_type, r.service, services[r.service])
    server = ThreadingHTTPServer((args.host, args.port), _handler(broker))
    log.info("broker listening on http://%s:%d", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
