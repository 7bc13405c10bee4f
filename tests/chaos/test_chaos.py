"""Fault injection and load against the real multi-process stack (tests/chaos/conftest.py has
the sizes). Scenarios run in file order on one stack; each ends with its row in the table and
its assertions: every job terminal within a bound, one set of outputs per succeeded job,
transcripts identical to the undisturbed run, failures with a clear reason, no crash loop,
scratch space back to its starting size."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.chaos import media
from tests.chaos.harness import CallbackReceiver, ChaosEnv, Row, percentiles
from tests.conftest import SAMPLE_VIDEO, wait_for

pytestmark = [pytest.mark.model, pytest.mark.chaos, pytest.mark.timeout(900)]

CLIP = "meeting.mp4"  # 31 s, three chunks
TINY = ("tiny-a.wav", "tiny-b.wav", "tiny-c.wav")
BOUND_S = 90  # one clip job, disturbed, from creation to its end
REDRIVE_BOUND_S = 90  # ... when only the reconciler can finish it (leases of 20-30 s, pings every 2 s)


def _clip_scenario(chaos: ChaosEnv, name: str, disturb, bound_s: float = BOUND_S, **body) -> Row:
    """One job on the clip, ``disturb(job_id)`` while it runs; it must succeed as undisturbed."""
    started, scratch, crashes = chaos.begin()
    job_id, _ = chaos.create(CLIP, **body)
    disturb(job_id)
    row = chaos.observe(
        Row(name), [job_id], started, bound_s, scratch, crashes, expected_text={job_id: chaos.baseline[CLIP]}
    )
    return row


def test_undisturbed(chaos):
    """The reference run: the clip and the tiny clips, their transcripts kept for the rest."""
    started, scratch, crashes = chaos.begin()
    ids = {name: chaos.create(name)[0] for name in (CLIP, *TINY)}
    row = chaos.observe(Row("undisturbed"), list(ids.values()), started, BOUND_S, scratch, crashes)
    row.check(all_succeed=True)
    output = chaos.stack.storage().bucket("kscribe-output")
    for name, job_id in ids.items():
        record = chaos.record(job_id)
        prefix = record["output_uri"].removeprefix("gs://kscribe-output/").rstrip("/")
        chaos.baseline[name] = output.blob(f"{prefix}/{record['output_stem']}.txt").download_as_text()
    assert "meeting" in chaos.baseline[CLIP].lower() or len(chaos.baseline[CLIP]) > 100


@pytest.mark.parametrize("stage", ["extract", "transcribe", "publish"])
def test_sigkill_function_mid_work(chaos, stage):
    status = {"extract": "extracting", "transcribe": "transcribing", "publish": "publishing"}[stage]

    def disturb(job_id):
        chaos.wait_status(job_id, status)
        chaos.stack.control.kill(stage)

    _clip_scenario(chaos, f"kill -9 {stage}", disturb).check(all_succeed=True)


def test_sigkill_ingest_mid_notification(chaos):
    """ingest killed as a notification arrives: the sender (Eventarc) retries until it is back."""
    started, scratch, crashes = chaos.begin()
    uri = chaos.upload(SAMPLE_VIDEO, "meeting.mp4", prefix="ingest-kill/")
    sender = threading.Thread(target=chaos.notify_upload, args=(uri,))
    sender.start()
    chaos.stack.control.kill("ingest")
    sender.join()
    ids = wait_for(lambda: chaos.jobs_of(uri), timeout_s=30)
    row = chaos.observe(
        Row("kill -9 ingest"), ids, started, BOUND_S, scratch, crashes, expected_text={ids[0]: chaos.baseline[CLIP]}
    )
    row.duplicates += len(ids) - 1
    row.check(all_succeed=True)


def test_sigkill_notify_mid_callback(chaos):
    """notify killed while a (slow) callback receiver holds its request: the broker redelivers
    job.completed to the restarted notify, which calls back again."""
    receiver = CallbackReceiver(delay_s=2)
    try:

        def disturb(job_id):
            wait_for(lambda: receiver.received, timeout_s=BOUND_S)
            chaos.stack.control.kill("notify")

        row = _clip_scenario(chaos, "kill -9 notify", disturb, callback_url=receiver.url)
        [job_id] = row.extra["ended_s"] or [None]
        try:
            wait_for(lambda: chaos.record(job_id).get("callback_status") == "delivered", timeout_s=60)
        except AssertionError:
            row.problems.append(f"callback {chaos.record(job_id).get('callback_status')!r}, not delivered")
        row.check(all_succeed=True)
    finally:
        receiver.close()


def test_sigkill_api_after_creation(chaos):
    def disturb(job_id):
        chaos.stack.control.kill("api")

    _clip_scenario(chaos, "kill -9 api", disturb).check(all_succeed=True)


def test_slow_callback_receivers_do_not_stall_other_jobs(chaos):
    """Receivers that hang hold notify's deliveries; every other subscriber keeps its pace."""
    receiver = CallbackReceiver(delay_s=8)
    try:
        started, scratch, crashes = chaos.begin()
        slow = [chaos.create(name, callback_url=receiver.url)[0] for name in TINY * 3]
        wait_for(lambda: len(receiver.received) >= 6, timeout_s=BOUND_S)  # notify busy with them
        clip_started = time.monotonic()
        clip_id, _ = chaos.create(CLIP)
        expected = {clip_id: chaos.baseline[CLIP], **{j: chaos.baseline[n] for j, n in zip(slow, TINY * 3)}}
        row = chaos.observe(
            Row("slow callback receivers"), [*slow, clip_id], started, BOUND_S, scratch, crashes, expected_text=expected
        )
        clip_ended = row.extra["ended_s"].get(clip_id, 1e9) - (clip_started - started)
        if clip_ended > 45:
            row.problems.append(f"a job without a callback took {clip_ended:.0f} s behind slow receivers")
        row.check(all_succeed=True)
    finally:
        receiver.close()


def test_broker_killed_with_events_in_flight(chaos):
    """The broker dies holding job.created (extract is working on it) and what extract then
    publishes: only the reconciler can finish the job."""

    def disturb(job_id):
        chaos.wait_status(job_id, "extracting")
        chaos.stack.control.kill("broker")

    _clip_scenario(chaos, "broker killed, events in flight", disturb, REDRIVE_BOUND_S).check(all_succeed=True)


def test_broker_killed_during_backoff(chaos):
    """transcribe is down, so chunk.ready waits out a backoff in the broker; the broker dies
    then, and transcribe comes back."""
    offset = chaos.log_size()
    chaos.stack.control.stop("transcribe")
    try:

        def disturb(job_id):
            wait_for(
                lambda: "dev.kscribe.chunk.ready.v1 → transcribe answered 0; retry" in chaos.log_since(offset),
                timeout_s=60,
                interval_s=0.1,
            )
            chaos.stack.control.kill("broker")
            chaos.stack.control.start("transcribe")

        started, scratch, crashes = (
            time.monotonic(),
            chaos.scratch_bytes(),
            {n: s["crashes"] for n, s in chaos.stack.control.status().items()},
        )
        job_id, _ = chaos.create(CLIP)
        disturb(job_id)
        row = chaos.observe(
            Row("broker killed during backoff"),
            [job_id],
            started,
            REDRIVE_BOUND_S,
            scratch,
            crashes,
            expected_text={job_id: chaos.baseline[CLIP]},
        )
    finally:
        chaos.stack.control.start("transcribe")
    row.check(all_succeed=True)


def test_redis_killed_and_restarted(chaos):
    def disturb(job_id):
        chaos.wait_status(job_id, "transcribing")
        chaos.stack.control.kill("redis")

    _clip_scenario(chaos, "redis kill -9 + restart", disturb, REDRIVE_BOUND_S).check(all_succeed=True)


def test_storage_emulator_stopped(chaos, sizes):
    def disturb(job_id):
        chaos.wait_status(job_id, "transcribing")
        chaos.stack.control.stop("gcs")
        time.sleep(sizes.outage_s)  # the outage itself
        chaos.stack.control.start("gcs")

    _clip_scenario(chaos, f"storage stopped {sizes.outage_s:g} s", disturb, BOUND_S + sizes.outage_s + 30).check(
        all_succeed=True
    )


def test_notification_duplicated(chaos, sizes):
    """GCS sends the same object.finalized ×10, at once: one job, one set of outputs."""
    started, scratch, crashes = chaos.begin()
    uri = chaos.upload(SAMPLE_VIDEO, "meeting.mp4", prefix="duplicated/")
    with ThreadPoolExecutor(sizes.duplicates) as pool:
        list(pool.map(lambda _: chaos.notify_upload(uri), range(sizes.duplicates)))
    ids = wait_for(lambda: chaos.jobs_of(uri), timeout_s=30)
    row = chaos.observe(
        Row(f"notification ×{sizes.duplicates}"),
        ids,
        started,
        BOUND_S,
        scratch,
        crashes,
        expected_text={i: chaos.baseline[CLIP] for i in ids},
    )
    row.duplicates += len(ids) - 1
    row.check(all_succeed=True)


_CHUNK_READY = "delivered dev.kscribe.chunk.ready.v1 "


def _chunk_ready_deliveries(log: str, job_ids: set[str]) -> int:
    """The broker's chunk.ready deliveries (ids ``<job>/chunk/<n>``) of ``job_ids`` in ``log``:
    a scenario before may still have copies of its own in backoff when this one starts."""
    return sum(
        1
        for line in log.splitlines()
        if _CHUNK_READY in line and line.split(_CHUNK_READY, 1)[1].split("/")[0] in job_ids
    )


def test_backlog_through_one_transcribe_worker(chaos, sizes):
    """The backlog scenario: ``sizes.creations`` API creations over ``sizes.load_window_s``
    (a client with at most eight requests in flight) into one transcribe worker, which takes
    ``sizes.at_once`` deliveries at a time — at least ten times more jobs than it can run
    at once. Every job waits its turn and succeeds (a wait is not a loss: nothing is re-driven
    into failure), the broker delivers chunk.ready at most 1.2 times per chunk, and the API
    answers quickly. The row gives the time to drain, the wait in line (creation → first
    chunk on a worker), deliveries per chunk and Redis memory per job."""
    assert sizes.creations >= 10 * sizes.at_once
    started, scratch, crashes = chaos.begin()
    offset, memory_before = chaos.log_size(), chaos.stack.redis.info("memory")["used_memory"]
    interval = sizes.load_window_s / sizes.creations

    def create(i):
        delay = started + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the client, not waiting for a condition
        name = TINY[i % len(TINY)]
        return (*chaos.create(name), name)

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(create, range(sizes.creations)))
    window = time.monotonic() - started
    memory_queued = chaos.stack.redis.info("memory")["used_memory"]
    ids = [job_id for job_id, _, _ in created]
    row = chaos.observe(
        Row(f"backlog: {sizes.creations} creations"),
        ids,
        started,
        120 + sizes.creations * 2,
        scratch,
        crashes,
        expected_text={job_id: chaos.baseline[name] for job_id, _, name in created},
    )
    records = [chaos.record(job_id) or {} for job_id in ids]
    chunks = sum(int(r.get("chunks_total") or 0) for r in records)
    deliveries = _chunk_ready_deliveries(chaos.log_since(offset), set(ids))
    waits = [
        float(r["transcription_started_at"]) - float(r["created_at"])
        for r in records
        if r.get("transcription_started_at")
    ]
    row.extra.update(
        latency=percentiles([took for _, took, _ in created]),
        creations=sizes.creations,
        window_s=window,
        drain_s=row.time_to_terminal_s,
        wait=percentiles(waits),
        deliveries_per_chunk=deliveries / max(1, chunks),
        redis_bytes_per_job=(memory_queued - memory_before) / sizes.creations,
        redrives=sum(int(r.get("redrives") or 0) for r in records),
        peak_rss={n: s["peak_rss_bytes"] for n, s in chaos.stack.control.status().items()},
    )
    if deliveries > 1.2 * chunks:
        row.problems.append(f"the broker delivered chunk.ready {deliveries} times for {chunks} chunks")
    print(
        f"backlog: {sizes.creations} jobs in {window:.0f} s, drained in {row.time_to_terminal_s:.0f} s; wait "
        f"{row.extra['wait']}; {deliveries} deliveries for {chunks} chunks; "
        f"{row.extra['redis_bytes_per_job']:.0f} B of Redis per queued job"
    )
    row.check(all_succeed=True)
    assert row.extra["latency"]["p95"] < 2.0, row.extra["latency"]


def test_mutated_media(chaos, sizes, tmp_path):
    """Byte flips, truncations and zeroed ranges of the sample and of tiny WAVs: each job
    succeeds or fails with a clear reason."""
    started, scratch, crashes = chaos.begin()
    sources = [SAMPLE_VIDEO, *chaos.clips.values()]
    files = media.mutated_files(sources, sizes.mutated, tmp_path / "mutated")
    for path in files:
        chaos.upload(path, f"mutated/{path.name}")
    with ThreadPoolExecutor(8) as pool:
        ids = [job_id for job_id, _ in pool.map(lambda p: chaos.create(f"mutated/{p.name}"), files)]
    row = chaos.observe(Row(f"mutated media ×{len(files)}"), ids, started, 120 + 15 * len(files), scratch, crashes)
    row.check()


def test_extreme_media(chaos, sizes, tmp_path):
    """Hours of silence, eight audio streams, a single video frame, 48 channels."""
    started, scratch, crashes = chaos.begin()
    files = media.extremes(SAMPLE_VIDEO, tmp_path / "extremes", sizes.silence_s)
    ids = []
    for path in files.values():
        chaos.upload(path, f"extremes/{path.name}")
        ids.append(chaos.create(f"extremes/{path.name}")[0])
    row = chaos.observe(
        Row("extremes: " + ", ".join(files)), ids, started, 240 + sizes.silence_s / 10, scratch, crashes
    )
    row.check()
