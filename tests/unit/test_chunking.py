from kscribe.media.chunking import plan_cuts
from kscribe.media.decode import SAMPLE_RATE, Silence

SR = SAMPLE_RATE


def covers(ranges, total):
    assert ranges[0][0] == 0 and ranges[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])), "chunks must be contiguous"


def test_short_recording_is_one_chunk():
    assert plan_cuts(30 * SR, [Silence(10, 11)], target_s=600) == [(0, 30 * SR)]


def test_up_to_one_point_two_targets_stays_one_chunk():
    assert len(plan_cuts(int(11.9 * SR), [], target_s=10)) == 1
    assert len(plan_cuts(int(12.1 * SR), [], target_s=10)) == 2


def test_cut_falls_in_the_middle_of_the_longest_silence_in_the_window():
    silences = [Silence(9.0, 9.4), Silence(10.5, 11.5), Silence(13.5, 14.5)]  # last is outside ±2 s
    ranges = plan_cuts(25 * SR, silences, target_s=10)
    covers(ranges, 25 * SR)
    assert ranges[0] == (0, 11 * SR)


def test_without_a_silence_the_cut_is_at_the_target():
    ranges = plan_cuts(32 * SR, [Silence(1, 2)], target_s=10)
    covers(ranges, 32 * SR)
    assert [r[0] for r in ranges] == [0, 10 * SR, 20 * SR]
    assert ranges[-1] == (20 * SR, 32 * SR), "a remainder up to 1.2 × target joins the last chunk"


def test_long_recording_chunks_stay_near_the_target():
    total = 3600 * SR
    silences = [Silence(t, t + 0.8) for t in range(7, 3600, 13)]
    ranges = plan_cuts(total, silences, target_s=600)
    covers(ranges, total)
    assert all(end - start <= 1.2 * 600 * SR for start, end in ranges)
    assert len(ranges) == 6


def test_balanced_target_makes_the_chunk_count_a_multiple_of_the_workers():
    from kscribe.media.chunking import balanced_target

    assert balanced_target(1800, 600, 1) == 600, "one worker: the setting as it is"
    assert balanced_target(1800, 600, 2) == 450, "3 chunks would leave a worker idle: 4 of 450 s"
    assert balanced_target(300, 600, 2) == 150, "a short video still feeds both workers"
    assert balanced_target(31, 600, 2) == 60, "but a clip is not cut into slivers"
    for total in (150, 700, 1800, 3600):
        target = balanced_target(total, 600, 2)
        assert len(plan_cuts(int(total * SR), [], target)) % 2 == 0
