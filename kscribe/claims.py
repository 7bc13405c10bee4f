"""Claims: one delivery at a time on expensive work (ffmpeg on a job, the model on a chunk).

A duplicate delivery can arrive while the first is still working (a broker redelivery after
a timeout, the reconciler re-driving a slow step)::

    t0  A: job.created → no chunks stored → runs ffmpeg (minutes)
    t1  B: job.created again → no chunks stored yet → would run ffmpeg a second time

``claim`` closes it with one ``SET NX PX``: B finds A's claim and raises ``WorkClaimed``, a
``TransientError`` — the function answers 5xx (no 2xx without the follow-up event), the broker
redelivers later and B then finds A's result. The claim is a short lease that A renews while
it lives (a heartbeat every third of it): if A dies, it expires within one lease and a
broker retry does the work, long before the step's own (minutes-long) lease would re-drive it. In one process (the in-process bus) the duplicate waits for the claim
instead (``wait_released``), so a job is never dead-lettered because of its own duplicate.

Claims are also the pipeline's delivery ledger (kscribe/reconcile.py): a held claim is work
in flight, and every claim taken or renewed stamps its stage's beat (``keys.stage_beat``).
A stage whose beat is recent is draining its queue, so a job of it that has not moved is
waiting for capacity, not lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from types import TracebackType

from kscribe import keys, metrics
from kscribe.errors import WorkClaimed
from kscribe.ports import KeyValue

# Only the holder's token releases or extends a claim: one whose lease ran out may have
# been taken by another delivery since.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"

# Claims this process holds, so a duplicate delivered in the same process can wait for one.
_held: dict[str, threading.Event] = {}
_held_lock = threading.Lock()


def extract_work(job_id: str) -> str:
    return f"{job_id}/extract"


def language_work(job_id: str) -> str:
    return f"{job_id}/language"


def callback_work(job_id: str) -> str:
    return f"{job_id}/callback"


def chunk_work(job_id: str, index: int) -> str:
    return f"{job_id}/chunk/{index}"


def chunk_voices_work(job_id: str, index: int) -> str:
    return f"{job_id}/voices/{index}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def beat(kv: KeyValue, stage: str) -> None:
    """Stamp ``stage``'s beat: one of its workers is taking or holding work now."""
    kv.set(keys.stage_beat(stage), repr(time.time()))


def last_beat(kv: KeyValue, stage: str) -> float:
    """When a worker of ``stage`` last took or held work (0: never, as far as Redis knows)."""
    raw = kv.get(keys.stage_beat(stage))
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


class Claim:
    """A held claim, renewed in the background until released; leaving the ``with`` block
    releases it (a crash leaves it to expire)."""

    def __init__(self, kv: KeyValue, key: str, token: str, lease_s: float, stage: str = ""):
        self._kv = kv
        self.key = key
        self._token = token
        self._lease_s = lease_s
        self._stage = stage
        self._stop = threading.Event()
        threading.Thread(target=self._renew, name=f"claim {key}", daemon=True).start()

    def _renew(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            held = self._kv.register_script(_EXTEND)(keys=[self.key], args=[self._token, _ms(self._lease_s)])
            if held and self._stage:
                beat(self._kv, self._stage)

    def release(self) -> None:
        self._stop.set()
        try:
            self._kv.register_script(_RELEASE)(keys=[self.key], args=[self._token])
        finally:
            with _held_lock:
                released = _held.pop(self.key, None)
            if released is not None:
                released.set()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def claim(kv: KeyValue, work: str, lease_s: float, stage: str) -> Claim:
    """Claim ``work`` (renewed every ``lease_s`` / 3 while held), or raise ``WorkClaimed``
    (counted) if another delivery holds it."""
    key, token = keys.claim(work), uuid.uuid4().hex
    if not kv.set(key, token, nx=True, px=_ms(lease_s)):
        metrics.DUPLICATES_CLAIMED.labels(stage).inc()
        raise WorkClaimed(key, f"{work} is being done by another delivery; retry later")
    with _held_lock:
        _held[key] = threading.Event()
    beat(kv, stage)
    return Claim(kv, key, token, lease_s, stage)


def held(kv: KeyValue, work: str) -> bool:
    """Whether a delivery is doing ``work`` now."""
    return kv.get(keys.claim(work)) is not None


def wait_released(kv: KeyValue, key: str, poll_s: float = 0.05) -> None:
    """Return once the claim at ``key`` is gone: at once when this process's holder releases
    it, else when another process's holder does or its lease runs out."""
    while kv.get(key) is not None:
        # Looked up each time: once a holder here lets go, its event stays set, and another
        # delivery here may already hold the claim anew (waiting on the old event would spin).
        with _held_lock:
            local = _held.get(key)
        if local is not None:
            local.wait(poll_s)  # wakes as soon as the holder releases
        else:
            time.sleep(poll_s)
