"""The local broker against real HTTP subscribers: a slow subscriber holds only its own
deliveries, a retry waits on a timer (not in a worker), PingSources post on schedule."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cloudevents.http import CloudEvent, from_http

from kscribe_stack.broker import PING_TYPE, Broker
from kscribe_stack.triggers import Delivery, Ping, Route, load_pings
from tests.conftest import wait_for


class Subscriber:
    """Records each event; ``answer(event)`` gives the status (and may block)."""

    def __init__(self, answer=lambda event: 200):
        self.events: list[tuple[float, CloudEvent]] = []
        self.paths: list[str] = []
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = from_http(dict(self.headers), body)
                subscriber.paths.append(self.path)
                subscriber.events.append((time.monotonic(), event))
                self.send_response(answer(event))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        return [e["id"] for _, e in self.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscribers():
    made = []

    def make(answer=lambda event: 200) -> Subscriber:
        made.append(Subscriber(answer))
        return made[-1]

    yield make
    for s in made:
        s.close()


def route(name: str, kind: str, service: str, delivery: Delivery | None = None, **extensions: str) -> Route:
    return Route(name, service, delivery or Delivery(), {"type": kind, **extensions})


def event(kind: str, n: int, **extensions: str) -> CloudEvent:
    return CloudEvent({"type": kind, "source": "//test", "id": f"{kind}-{n}", **extensions}, {"n": n})


def test_a_slow_subscriber_does_not_stall_the_others(subscribers):
    release = threading.Event()
    slow = subscribers(lambda e: 200 if release.wait(30) else 500)
    fast = subscribers()
    broker = Broker(
        [route("to-slow", "slow", "slow"), route("to-fast", "fast", "fast")],
        {"slow": slow.url, "fast": fast.url},
        workers_per_service=2,
    )
    try:
        for n in range(6):  # three times what the slow subscriber's pool can hold
            broker.accept(event("slow", n))
        wait_for(lambda: len(slow.events) == 2)
        for n in range(5):
            broker.accept(event("fast", n))
        wait_for(lambda: len(fast.events) == 5, timeout_s=5)
        assert len(slow.events) == 2, "the slow subscriber's pool is bounded"
    finally:
        release.set()
    wait_for(lambda: len(slow.events) == 6)
    broker.close()


def test_a_retry_waits_on_a_timer_not_in_a_worker(subscribers):
    failures = {"flaky-0": 2}

    def answer(e):
        if failures.get(e["id"], 0) > 0:
            failures[e["id"]] -= 1
            return 503
        return 200

    flaky = subscribers(answer)
    delivery = Delivery(retry=3, backoff_policy="exponential", backoff_delay_s=1.0)
    broker = Broker([route("to-flaky", "flaky", "flaky", delivery)], {"flaky": flaky.url}, workers_per_service=1)
    broker.accept(event("flaky", 0))
    wait_for(lambda: len(flaky.events) == 1)
    broker.accept(event("flaky", 1))  # the one worker is free while flaky-0 waits out its backoff
    wait_for(lambda: "flaky-1" in flaky.ids(), timeout_s=0.5)
    wait_for(lambda: flaky.ids().count("flaky-0") == 3, timeout_s=10)
    times = [t for t, e in flaky.events if e["id"] == "flaky-0"]
    # Knative's exponential backoff: delay × 2^attempt.
    assert times[1] - times[0] == pytest.approx(1.0, abs=0.3)
    assert times[2] - times[1] == pytest.approx(2.0, abs=0.3)
    broker.close()


def test_exhausted_retries_go_to_the_dead_letter_sink(subscribers):
    broken = subscribers(lambda e: 500)
    sink = subscribers()
    delivery = Delivery(
        retry=1,
        backoff_policy="exponential",
        backoff_delay_s=0.05,
        dead_letter_service="dl",
        dead_letter_path="/broken",
    )
    broker = Broker([route("to-broken", "x", "broken", delivery)], {"broken": broken.url, "dl": sink.url})
    broker.accept(event("x", 0))
    wait_for(lambda: sink.events)
    broker.close()
    dead = sink.events[0][1]
    assert len(broken.events) == 2 and dead["id"] == "x-0" and dead["knativeerrorcode"] == "500"
    # The sink's uri, relative to its Service, as Knative resolves a deadLetterSink's ref + uri.
    assert sink.paths == ["/broken"] and broken.paths == ["/", "/"]


def test_a_filter_on_an_extension_attribute_matches_it_exactly(subscribers):
    # As Knative's filter.attributes: every listed attribute, present and equal ("" = any value).
    every, flagged, anything = subscribers(), subscribers(), subscribers()
    broker = Broker(
        [
            route("to-every", "x", "every"),
            route("to-flagged", "x", "flagged", kscribespeakers="true"),
            route("to-anything", "x", "anything", kscribespeakers=""),
        ],
        {"every": every.url, "flagged": flagged.url, "anything": anything.url},
    )
    broker.accept(event("x", 0, kscribespeakers="true"))
    broker.accept(event("x", 1))
    broker.accept(event("x", 2, kscribespeakers="false"))
    broker.accept(event("x", 3, kscribespeakers="True"))
    broker.accept(event("y", 4, kscribespeakers="true"))
    wait_for(lambda: len(every.events) == 4 and len(anything.events) == 3)
    broker.close()  # waits for deliveries under way
    assert sorted(every.ids()) == ["x-0", "x-1", "x-2", "x-3"]
    assert flagged.ids() == ["x-0"]
    assert sorted(anything.ids()) == ["x-0", "x-2", "x-3"]


def test_pings_are_posted_on_schedule(subscribers, tmp_path):
    (tmp_path / "pingsource.yaml").write_text("""
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: reconcile-every-minute
spec:
  schedule: "* * * * *"
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: reconcile
""")
    (tmp_path / "kustomization.yaml").write_text("namespace: kscribe\n")
    [ping] = load_pings(tmp_path)
    assert ping == Ping("reconcile-every-minute", "kscribe", "reconcile", 60.0)
    receiver = subscribers()
    broker = Broker([], {"reconcile": receiver.url}, pings=[ping], ping_seconds=0.2)
    wait_for(lambda: len(receiver.events) >= 3, timeout_s=5)
    broker.close()
    first = receiver.events[0][1]
    assert first["type"] == PING_TYPE
    assert first["source"] == "/apis/v1/namespaces/kscribe/pingsources/reconcile-every-minute"
