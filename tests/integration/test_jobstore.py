"""The job store against a real redis-server."""

import dataclasses
import multiprocessing
import random
import threading

import redis

from kscribe.errors import QuotaExceeded
from kscribe.state.jobs import JobStore
from kscribe.values import Job, JobStatus


def new_job(job_id="j1"):
    return Job(
        id=job_id,
        source_uri="gs://in/v.mp4",
        source_generation="7",
        output_uri="gs://out",
        output_stem="v",
        model="tiny.en",
        language=None,
        task="transcribe",
        formats=("srt", "txt"),
        metadata={"team": "a"},
    )


def test_create_is_once_per_dedupe_key_and_round_trips(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    job, created = jobs.create(new_job("a"), "gs://in/v.mp4#7")
    again, created_again = jobs.create(new_job("b"), "gs://in/v.mp4#7")
    assert created and not created_again and again.id == "a"
    assert job.formats == ("srt", "txt") and job.metadata == {"team": "a"} and job.language is None
    assert job.status is JobStatus.QUEUED and job.created_at > 0
    assert 3500 < redis_client.ttl("kscribe:job:a") <= 3600
    assert jobs.create(new_job("c"), "gs://in/v.mp4#8")[1], "a new generation is a new job"


def test_status_moves_only_forward_and_terminal_states_stick(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    jobs.create(new_job(), "k")
    assert jobs.advance("j1", JobStatus.TRANSCRIBING)
    assert not jobs.advance("j1", JobStatus.EXTRACTING), "a late redelivery must not go backwards"
    assert jobs.advance("j1", JobStatus.SUCCEEDED, outputs={"srt": "gs://out/v.srt"})
    assert not jobs.fail("j1", "too late", "publish")
    job = jobs.require("j1")
    assert job.status is JobStatus.SUCCEEDED and job.outputs == {"srt": "gs://out/v.srt"} and job.error == ""


def test_timings_accumulate_per_stage(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    jobs.create(new_job(), "k")
    jobs.add_timing("j1", "transcribe", 1.5)
    jobs.add_timing("j1", "transcribe", 2.0)
    assert jobs.require("j1").timings == {"transcribe": 3.5}


def test_a_complete_set_is_told_to_every_delivery_and_audio_counts_once(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    jobs.create(new_job(), "k")
    first = jobs.complete_chunk("j1", 0, 2, 10.0)
    assert first.first_time and not first.complete
    last = jobs.complete_chunk("j1", 1, 2, 10.0)
    assert last.first_time and last.complete
    again = jobs.complete_chunk("j1", 1, 2, 10.0)
    assert again.complete and not again.first_time, "a redelivery learns the set is complete too"
    assert jobs.require("j1").transcribed_s == 20.0, "a chunk's audio counts once"


def test_announcements_and_leases_are_recorded_only_on_live_jobs(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    jobs.create(new_job(), "k")
    jobs.mark_announced("j1", "created")
    jobs.extend_lease("j1", 100)
    jobs.extend_lease("j1", 10)  # never shortened
    job = jobs.require("j1")
    assert job.announced == {"created"} and job.lease_until >= jobs.clock() + 99
    assert jobs.note_redrive("j1") == 1 and jobs.note_redrive("j1") == 2 and jobs.require("j1").redrives == 2
    for write in (
        lambda: jobs.mark_announced("gone", "created"),
        lambda: jobs.extend_lease("gone", 5),
        lambda: jobs.update("gone", callback_status="failed"),
    ):
        write()
    assert jobs.note_redrive("gone") == -1
    assert not redis_client.exists("kscribe:job:gone"), "no expiry-less husk of a job"


def _deliver_chunks(url, job_id, indexes, total, results):
    jobs = JobStore(redis.Redis.from_url(url, decode_responses=True), retention_s=3600)
    for index in indexes:
        results.put(jobs.complete_chunk(job_id, index, total, 1.0).first_time)


def test_each_chunk_counts_once_under_concurrent_duplicate_deliveries(redis_client):
    """Four processes × four threads deliver every chunk of a 50-chunk job, each chunk
    three times, shuffled: exactly one delivery per chunk records it."""
    jobs = JobStore(redis_client, retention_s=3600)
    for run in range(5):
        job_id = f"race-{run}"
        jobs.create(new_job(job_id), job_id)
        deliveries = [i for i in range(50) for _ in range(3)]
        random.Random(run).shuffle(deliveries)
        url = f"unix://{redis_client.socket_file}"
        results = multiprocessing.Queue()
        workers = []
        for w in range(4):
            mine = deliveries[w::4]
            workers.append(multiprocessing.Process(target=_threads, args=(url, job_id, mine, 50, results)))
        for p in workers:
            p.start()
        outcomes = [results.get(timeout=60) for _ in deliveries]
        for p in workers:
            p.join(timeout=60)
        assert outcomes.count(True) == 50
        job = jobs.require(job_id)
        assert job.chunks_done == 50 and job.transcribed_s == 50.0


def _threads(url, job_id, indexes, total, results):
    threads = [
        threading.Thread(target=_deliver_chunks, args=(url, job_id, indexes[t::4], total, results)) for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def tenant_job(job_id, tenant):
    return dataclasses.replace(new_job(job_id), tenant=tenant)


def test_the_active_quota_holds_under_concurrent_creates_and_frees_on_finish(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    results = []

    def create(i):
        try:
            results.append(jobs.create(tenant_job(f"q{i}", "acme"), f"k{i}", max_active=3)[1])
        except QuotaExceeded:
            results.append("refused")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 3 and results.count("refused") == 9, "exactly the quota, however they race"
    assert jobs.tenant_active_count("acme") == 3
    done = next(i for i in range(12) if jobs.get(f"q{i}"))
    jobs.advance(f"q{done}", JobStatus.SUCCEEDED)
    assert jobs.tenant_active_count("acme") == 2
    assert jobs.create(tenant_job("q99", "acme"), "k99", max_active=3)[1], "a finished job frees its place"
    assert jobs.create(tenant_job("g1", "globex"), "g1", max_active=3)[1], "quotas are per tenant"


def test_listing_by_status_follows_the_job(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    for i in range(3):
        jobs.create(tenant_job(f"s{i}", "acme"), f"s{i}")
    jobs.advance("s1", JobStatus.EXTRACTING)
    jobs.advance("s1", JobStatus.SUCCEEDED)
    assert jobs.tenant_job_ids("acme", 0, 10, "queued") == ["s2", "s0"]
    assert jobs.tenant_job_ids("acme", 0, 10, "succeeded") == ["s1"]
    assert jobs.tenant_job_ids("acme", 0, 10, "extracting") == []
    assert jobs.tenant_job_ids("globex", 0, 10, "queued") == []


def test_daily_audio_is_counted_once_per_job_and_refused_past_the_limit(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    for name, tenant in (("u1", "acme"), ("u2", "acme"), ("u3", "globex"), ("u4", "acme")):
        jobs.create(tenant_job(name, tenant), name)
    assert jobs.record_usage("u1", "acme", 1800.5, limit_s=3600)
    assert jobs.record_usage("u1", "acme", 1800.5, limit_s=3600), "a redelivery is not counted again"
    assert jobs.record_usage("u3", "globex", 3000, limit_s=3600)
    assert not jobs.record_usage("u2", "acme", 1800, limit_s=3600), "past the hour: refused"
    assert jobs.record_usage("u4", "acme", 1799.5, limit_s=3600), "up to the hour exactly"
    assert jobs.audio_used_today("acme") == 3600.0 and jobs.audio_used_today("globex") == 3000.0
    assert jobs.advance("u3", JobStatus.EXTRACTING) and redis_client.ping()


def test_a_job_with_speakers_completes_only_when_every_chunk_has_both_parts(redis_client):
    jobs = JobStore(redis_client, retention_s=3600)
    jobs.create(dataclasses.replace(new_job(), speakers=1), "k")
    steps = [("transcript", 0), ("voices", 1), ("transcript", 1), ("transcript", 1), ("voices", 0)]
    outcomes = [jobs.complete_chunk("j1", i, 2, 10.0, part=part, speakers=True) for part, i in steps]
    assert [o.complete for o in outcomes] == [False, False, False, False, True]
    assert [o.first_time for o in outcomes] == [True, True, True, False, True]
    assert jobs.complete_chunk("j1", 1, 2, 10.0, part="voices", speakers=True).complete, "a redelivery learns it too"
    job = jobs.require("j1")
    assert job.chunks_done == 2 and job.chunks_diarized == 2 and job.transcribed_s == 20.0, "voices add no audio"
    # Without speakers the voices set is not waited for.
    jobs.create(new_job("j2"), "k2")
    assert jobs.complete_chunk("j2", 0, 1, 1.0).complete


def _deliver_parts(url, job_id, deliveries, total, results):
    jobs = JobStore(redis.Redis.from_url(url, decode_responses=True), retention_s=3600)
    for part, index in deliveries:
        outcome = jobs.complete_chunk(job_id, index, total, 1.0, part=part, speakers=True)
        results.put((outcome.first_time, outcome.complete))


def test_both_parts_racing_with_duplicates_complete_the_job_exactly_once(redis_client):
    """Four processes deliver the transcript and the voices of every chunk of a 30-chunk job,
    each three times, shuffled: exactly one delivery stores a last part and finds the job
    complete (the one whose announcement finishes it); none finds it complete earlier."""
    jobs = JobStore(redis_client, retention_s=3600)
    url = f"unix://{redis_client.socket_file}"
    for run in range(3):
        job_id = f"both-{run}"
        jobs.create(dataclasses.replace(new_job(job_id), speakers=1), job_id)
        deliveries = [(part, i) for i in range(30) for part in ("transcript", "voices") for _ in range(3)]
        random.Random(run).shuffle(deliveries)
        results = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=_deliver_parts, args=(url, job_id, deliveries[w::4], 30, results))
            for w in range(4)
        ]
        for p in workers:
            p.start()
        outcomes = [results.get(timeout=60) for _ in deliveries]
        for p in workers:
            p.join(timeout=60)
        assert sum(first for first, _ in outcomes) == 60, "each part of each chunk is recorded once"
        assert sum(first and complete for first, complete in outcomes) == 1
        job = jobs.require(job_id)
        assert job.chunks_done == 30 and job.chunks_diarized == 30 and job.transcribed_s == 30.0
