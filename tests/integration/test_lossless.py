"""Nothing said is dropped at a chunk boundary: a dialogue cut exactly where a turn starts
keeps every turn, with the real tiny.en model, extract, transcribe and publish; and the
transcript and job record say how much of the speech holds words.

Before chunks held padding, the chunk that began at a turn's onset decoded it from its very
first sample, and the dialogue of issue 21 lost that whole turn."""

import json

import numpy as np
import pytest

from kscribe.api.views import job_view
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.cli.main import describe
from kscribe.media.decode import SAMPLE_RATE
from kscribe.values import JobStatus
from tests import conversation
from tests.conftest import run_local_job

# Each turn has a word of its own to find it by.
TURNS = [
    ("en-us", "Good morning everyone, thank you for joining the weekly planning meeting.", "morning"),
    ("en+f3", "Thanks. I want to start with the budget, because the numbers changed.", "numbers"),
    ("en-us", "Americans, ask not what your country can do for you.", "americans"),
    ("en+f3", "The landlord has confirmed the dates, and the movers have sent their quote.", "landlord"),
]
# Where the cut falls: the chunk length (see HISS). The third turn starts there, or a
# moment before, so that its first word straddles the cut.
CUT_S = 16.0
# Silence between turns, and a faint hiss under everything: no stretch is digital silence,
# so the planner finds no pause to prefer and cuts at the target length itself.
PAUSE_S = 0.8
HISS = 2e-4


def dialogue(early_s: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """The dialogue, with the third turn's speech starting ``early_s`` before CUT_S; each
    turn's onset."""
    rng = np.random.default_rng(7)
    pieces, onsets, at = [], [], 0
    for n, (voice, text, _) in enumerate(TURNS):
        speech = conversation.say(voice, text)
        loud = np.flatnonzero(np.abs(speech) > 0.01)
        speech = speech[loud[0] : loud[-1] + 1]
        gap = int(PAUSE_S * SAMPLE_RATE)
        if n == 2:
            gap = int((CUT_S - early_s) * SAMPLE_RATE) - at
            assert gap > 0.3 * SAMPLE_RATE, "the first two turns run past CUT_S: raise it"
        pieces.append(np.zeros(gap, np.float32))
        at += gap
        onsets.append(at / SAMPLE_RATE)
        pieces.append(speech)
        at += len(speech)
    pieces.append(np.zeros(SAMPLE_RATE, np.float32))
    audio = np.concatenate(pieces)
    return audio + rng.normal(0, HISS, len(audio)).astype(np.float32), onsets


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


@pytest.mark.model
@pytest.mark.parametrize("early_s", [0.0, 0.35], ids=["cut-at-onset", "cut-in-first-word"])
def test_a_chunk_that_starts_at_a_turns_onset_keeps_every_turn(settings, redis_client, transcriber, tmp_path, early_s):
    if not conversation.available():
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    audio, onsets = dialogue(early_s)
    assert onsets[2] == pytest.approx(CUT_S - early_s)
    path = tmp_path / "data" / "input" / "dialogue.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    conversation.write_wav(audio, path)
    settings = settings.replace(chunk_target_s=CUT_S, silence_threshold_db=-120.0)
    ctx, job = run_local_job(settings, redis_client, transcriber, path)
    assert job.status is JobStatus.SUCCEEDED, job.error

    body = json.loads(ctx.blobs.read_bytes(job.outputs["json"]))
    words = [(w["word"].strip(" .,!?").lower(), w["start"]) for s in body["segments"] for w in s["words"]]
    found = []
    for (_, _, key), onset in zip(TURNS, onsets, strict=True):
        hits = [t for word, t in words if word == key]
        # Heard once (not twice: the padding both chunks hear is owned by one), at its turn.
        assert len(hits) == 1, (key, " ".join(w for w, _ in words))
        assert onset - 0.5 <= hits[0] <= onset + 6.0, (key, hits, onset)
        found.append(hits[0])
    assert found == sorted(found)
    # Two chunks, cut at the third turn's onset (no pause to prefer: see HISS).
    assert job.chunks_total == 2
    coverage = body["coverage"]
    assert coverage["speech_s"] > 10 and coverage["uncovered_s"] == 0, coverage
    # The job record keeps it (Redis), and the job view and `kscribe status` show it.
    assert job.coverage == coverage
    assert job_view(job)["coverage"] == coverage
    assert f"speech: {coverage['speech_s']:.1f} s, 0.0 s of it without words" in describe(job)
