"""The diarize stage's filterbanks (kscribe/asr/fbank.py) against senko's native library: the
committed reference everywhere, the library itself where this CPU can run it."""

import numpy as np
import pytest

from kscribe.asr import fbank
from tests import native_fbank

# Log energies span about ±15; two builds of senko's own C++ source (-O3 -ffast-math for AVX2,
# and -O2) differ by up to 9e-4 on speech, and these features from either by less.
TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def ours():
    return fbank.turn_features(native_fbank.voice_like(), native_fbank.SPANS)


def test_features_match_the_native_library_reference(ours):
    # tests/unit/fbank_reference.npz: senko 0.2.2's extractor source built with its own
    # flags for a CPU without AVX-512 (`python -m tests.native_fbank --write-reference`).
    with np.load(native_fbank.REFERENCE) as reference:
        frames, values = reference["frames"].tolist(), reference["values"]
    assert [len(f) for f in ours] == frames
    kept = np.concatenate([turn[native_fbank.reference_rows(len(turn))] for turn in ours])
    np.testing.assert_allclose(kept, values, rtol=0, atol=TOLERANCE)


@pytest.mark.skipif(native_fbank.shipped_library() is None, reason="senko (the diarize extra) is not installed")
@pytest.mark.skipif(not native_fbank.cpu_runs_it(), reason="this CPU lacks the AVX-512 senko's library is built for")
def test_features_match_the_native_library_itself(ours):
    theirs = native_fbank.features(native_fbank.voice_like(), native_fbank.SPANS)
    assert [len(f) for f in ours] == [len(f) for f in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE)


def test_a_turn_has_a_frame_every_10_ms_that_fits_in_it(ours):
    # 1.5 s → 1 + (24000 - 400) // 160; shorter than a frame → one frame of padded audio;
    # cut by the end of the audio → the frames of what is there; past the end → one frame.
    assert [len(f) for f in ours] == [148, 148, 148, 1, 14, 58, 1]
    assert all(f.shape[1] == 80 and f.dtype == np.float32 for f in ours)


def test_turns_are_cut_where_the_library_cuts_them():
    # Seconds in float32 times 16000 in float32, truncated: (2.1f - 0.6f) * 16000 is
    # 23999.998, so 23999 samples, not 24000; 0.12349 s is sample 1975.84, so 1975 (the
    # C++ expressions give the same).
    assert fbank.turn_samples([(0.6, 2.1), (0.12349, 0.5), (1.9, 2.9)], 40000) == [
        (9600, 23999),
        (1975, 6024),
        (30400, 9600),
    ]
    # Never less than one sample; past the end, none.
    assert fbank.turn_samples([(1.0, 1.0), (3.0, 4.0)], 40000) == [(16000, 1), (48000, 0)]


def test_each_turn_is_mean_normalised(ours):
    for turn in ours:
        np.testing.assert_allclose(turn.mean(axis=0), 0.0, atol=1e-4)
    # Silence alone (every energy at the floor) has nothing left once its mean is gone;
    # speech has.
    np.testing.assert_allclose(ours[4], 0.0, atol=1e-5)
    np.testing.assert_allclose(ours[6], 0.0, atol=1e-5)
    assert ours[0].std() > 1.0


def test_a_turn_is_the_same_whichever_turns_are_transformed_with_it(ours, monkeypatch):
    monkeypatch.setattr(fbank, "_FRAMES_PER_BLOCK", 150)  # one turn per block, not all at once
    alone = fbank.turn_features(native_fbank.voice_like(), native_fbank.SPANS)
    for a, b in zip(ours, alone, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_no_turns_no_features():
    assert fbank.turn_features(native_fbank.voice_like(), []) == []
