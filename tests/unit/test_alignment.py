import numpy as np
import pytest

from kscribe.media.decode import SAMPLE_RATE
from kscribe.transcript.alignment import MAX_ONSET_SHIFT_S, quiet_spans, snap_to_speech
from kscribe.values import Segment, Word

RATE = SAMPLE_RATE


def sound(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def hush(seconds: float, level: float = 0.0) -> np.ndarray:
    return np.full(int(seconds * RATE), level, dtype=np.float32)


def word(start, end, text=" w"):
    return Word(start, end, text, 0.9)


def segment(*words):
    return Segment(words[0].start, words[-1].end, "".join(w.word for w in words), tuple(words))


# Sound 0–1 s, a pause 1–2 s, sound 2–3 s, a pause 3–5 s, sound 5–6 s.
SPANS = [(1.0, 2.0), (3.0, 5.0)]


def test_quiet_spans_are_the_stretches_below_the_threshold_long_enough_to_count():
    audio = np.concatenate([sound(1), hush(1), sound(1), hush(0.2), sound(1), hush(0.5, level=0.001)])
    spans = quiet_spans(audio, threshold_db=-35, min_s=0.3)
    # The 0.2 s gap is too short; the trailing hiss at -60 dBFS is quiet; 10 ms resolution.
    assert len(spans) == 2
    assert spans[0] == pytest.approx((1.0, 2.0), abs=0.011)
    assert spans[1] == pytest.approx((3.2 + 1.0, 4.7), abs=0.011)


def test_quiet_spans_of_long_audio_are_found_across_processing_blocks():
    audio = np.concatenate([sound(59.5), hush(1.0), sound(30), hush(0.5)])
    spans = quiet_spans(audio, threshold_db=-35, min_s=0.3)
    assert spans == [pytest.approx((59.5, 60.5), abs=0.011), pytest.approx((90.5, 91.0), abs=0.011)]


def test_noise_louder_than_the_threshold_is_not_quiet():
    audio = np.concatenate([sound(1), hush(1, level=0.05), sound(1)])  # about -26 dBFS
    assert quiet_spans(audio, threshold_db=-35, min_s=0.3) == []


def test_a_first_word_that_starts_inside_a_pause_starts_where_the_sound_does():
    segments = [segment(word(0.1, 0.9)), segment(word(1.2, 2.3, " early"), word(2.3, 2.9))]
    snapped = snap_to_speech(segments, SPANS)
    assert snapped[1].words[0].start == 2.0 and snapped[1].start == 2.0
    assert snapped[1].words[0].end == 2.3 and snapped[0] == segments[0]


def test_a_last_word_that_runs_into_a_pause_ends_where_the_sound_does():
    snapped = snap_to_speech([segment(word(2.1, 2.6), word(2.6, 3.8, " long"))], SPANS)
    assert snapped[0].words[1].end == 3.0 and snapped[0].end == 3.0


def test_a_late_first_word_after_a_pause_moves_back_to_the_start_of_the_sound():
    # The model squeezed the first word after the pause to nothing, 0.6 s late.
    snapped = snap_to_speech([segment(word(0.2, 0.9)), segment(word(2.6, 2.6, " squeezed"), word(2.6, 2.9))], SPANS)
    assert snapped[1].words[0].start == 2.0 and snapped[1].start == 2.0
    assert snapped[1].words[1].start == 2.6, "only the first word after the pause moves"


def test_a_word_does_not_move_back_over_sound_another_word_covers_or_too_far():
    covered = snap_to_speech([segment(word(1.9, 2.4)), segment(word(2.6, 2.9))], SPANS)
    assert covered[1].words[0].start == 2.6
    far = 2.0 + MAX_ONSET_SHIFT_S + 0.2
    distant = snap_to_speech([segment(word(far, far + 0.3))], [(1.0, 2.0)])
    assert distant[0].words[0].start == far


def test_words_wholly_inside_a_pause_and_audio_without_pauses_are_left_alone():
    inside = [segment(word(3.5, 4.5, " hm"))]
    assert snap_to_speech(inside, SPANS) == tuple(inside)
    assert snap_to_speech([segment(word(1.2, 2.3))], []) == (segment(word(1.2, 2.3)),)


def test_segments_without_word_timings_are_trimmed_too():
    snapped = snap_to_speech([Segment(1.3, 3.6, " no words")], SPANS)
    assert (snapped[0].start, snapped[0].end) == (2.0, 3.0)


def test_snapping_never_reorders_words():
    rng = np.random.default_rng(3)
    for _ in range(200):
        edges = np.sort(rng.uniform(0, 6, 8)).round(2)
        words = [word(a, b) for a, b in zip(edges[::2], edges[1::2])]
        snapped = snap_to_speech([segment(*words[:2]), segment(*words[2:])], SPANS)
        flat = [w for s in snapped for w in s.words]
        assert all(w.start <= w.end for w in flat)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(flat, flat[1:]))


def test_a_click_inside_a_pause_does_not_split_it_but_a_short_word_does():
    click = np.concatenate([sound(1), hush(0.4), sound(0.02), hush(0.6), sound(1)])
    assert quiet_spans(click, threshold_db=-35, min_s=0.3) == [pytest.approx((1.0, 2.02), abs=0.011)]
    word_between = np.concatenate([sound(1), hush(0.4), sound(0.15), hush(0.6), sound(1)])
    assert len(quiet_spans(word_between, threshold_db=-35, min_s=0.3)) == 2
