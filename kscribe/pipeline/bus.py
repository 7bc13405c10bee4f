"""The in-process event bus: the broker of a single-machine run.

Like a Knative Broker with Triggers it routes each event by type to its handler, retries a
failing delivery with backoff, and after the last attempt hands the event to a dead-letter
handler. ``drain`` returns when no event is left; up to ``workers`` deliveries run at once
(handlers are safe under concurrent and repeated delivery, as on Knative).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from kscribe.context import Context, Handler
from kscribe.errors import WorkClaimed
from kscribe.events import Event
from kscribe.observability.logs import event_log_context
from kscribe.pipeline.stages.announce import record_announced

log = logging.getLogger(__name__)

# (the event, the last error, the handler whose attempts ran out)
DeadLetter = Callable[[Event, Exception, Handler], None]
Observer = Callable[[Event], None]


class InProcessBus:
    def __init__(
        self,
        ctx: Context,
        subscribers: Mapping[str, tuple[Handler, ...]],
        attempts: int = 3,
        backoff_s: float = 0.5,
        dead_letter: DeadLetter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 1,
    ):
        self.ctx = ctx
        # Which handlers take each event type (kscribe.pipeline.handlers.SUBSCRIBERS): handed
        # in, so the bus knows how to deliver and nothing of what the stages do.
        self.routes: dict[str, tuple[Handler, ...]] = dict(subscribers)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.dead_letter = dead_letter
        self.sleep = sleep
        self.workers = max(1, workers)
        self.observers: list[Observer] = []
        self._queue: collections.deque[Event] = collections.deque()

    def publish(self, event: Event) -> None:
        for observe in self.observers:
            observe(event)
        self._queue.append(event)
        record_announced([event], self.ctx)  # in memory, a queued event is as good as published

    def drain(self) -> None:
        # Only this thread touches the queue and the observers; workers just run handlers.
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="deliver") as pool:
            running: set[Future[list[Event]]] = set()
            while self._queue or running:
                while self._queue:
                    event = self._queue.popleft()
                    # No Trigger for this type: like a broker, drop it.
                    for handler in self.routes.get(event.type, ()):
                        running.add(pool.submit(self._deliver, handler, event))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    for produced in future.result():
                        self.publish(produced)

    def _deliver(self, handler: Handler, event: Event) -> list[Event]:
        with event_log_context(event):
            return self._attempts(handler, event)

    def _attempts(self, handler: Handler, event: Event) -> list[Event]:
        attempt = 0
        while attempt < self.attempts:
            attempt += 1
            try:
                return handler(event, self.ctx)
            except WorkClaimed as exc:
                # A duplicate of a delivery still running in this process (or another's):
                # wait for it instead of using up attempts, then find its result.
                log.info("%s %s: %s; waiting for it", event.type, event.id, exc)
                self.ctx.claims.wait_released(exc.key)
                attempt -= 1
            except Exception as exc:
                if attempt == self.attempts:
                    log.error("giving up on %s %s after %d attempts: %s", event.type, event.id, attempt, exc)
                    if self.dead_letter:
                        self.dead_letter(event, exc, handler)
                    return []
                log.warning("delivery of %s %s failed (%s); retrying", event.type, event.id, exc)
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        return []
