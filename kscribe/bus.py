"""The in-process event bus: the broker of a single-machine run.

Like a Knative Broker with Triggers it routes each event by type to its handler, retries a
failing delivery with backoff, and after the last attempt hands the event to a dead-letter
handler. Delivery is synchronous: ``drain`` returns when no event is left.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

from kscribe.context import Context
from kscribe.events import Event
from kscribe.handlers import ROUTES, Handler

log = logging.getLogger(__name__)

DeadLetter = Callable[[Event, Exception], None]
Observer = Callable[[Event], None]


class InProcessBus:
    def __init__(self, ctx: Context, routes: dict[str, Handler] | None = None, attempts: int = 3,
                 backoff_s: float = 0.5, dead_letter: DeadLetter | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.ctx = ctx
        self.routes = dict(ROUTES if routes is None else routes)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.dead_letter = dead_letter
        self.sleep = sleep
        self.observers: list[Observer] = []
        self._queue: collections.deque[Event] = collections.deque()

    def publish(self, event: Event) -> None:
        for observe in self.observers:
            observe(event)
        self._queue.append(event)

    def drain(self) -> None:
        while self._queue:
            event = self._queue.popleft()
            handler = self.routes.get(event.type)
            if handler is None:
                continue  # no Trigger for this type: like a broker, drop it
            for produced in self._deliver(handler, event):
                self.publish(produced)

    def _deliver(self, handler: Handler, event: Event) -> list[Event]:
        for attempt in range(1, self.attempts + 1):
            try:
                return handler(event, self.ctx)
            except Exception as exc:  # noqa: BLE001 - any escape is a failed delivery
                if attempt == self.attempts:
                    log.error("giving up on %s %s after %d attempts: %s", event.type, event.id, attempt, exc)
                    if self.dead_letter:
                        self.dead_letter(event, exc)
                    return []
                log.warning("delivery of %s %s failed (%s); retrying", event.type, event.id, exc)
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        return []
