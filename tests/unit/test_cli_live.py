"""``kscribe run``'s transcript on a terminal: each chunk's sentences, in chunk order."""

from kscribe.cli.live import LiveTranscript
from kscribe.values import ChunkTranscript, Segment, Word


def chunk(index, text, start=0.0, lead_s=0.0, tail_s=0.0, duration_s=20.0, channel=0, job_id="j"):
    """Chunk ``index`` saying ``text``, a word every 0.4 s from ``start`` (its own times)."""
    words = tuple(
        Word(round(start + i * 0.4, 2), round(start + i * 0.4 + 0.35, 2), " " + w, 0.9)
        for i, w in enumerate(text.split())
    )
    segment = Segment(words[0].start, words[-1].end, " " + text, words)
    return ChunkTranscript(
        job_id,
        index,
        index * duration_s,
        duration_s,
        "en",
        0.9,
        (segment,),
        "tiny.en",
        channel=channel,
        lead_s=lead_s,
        tail_s=tail_s,
    )


def collect(**kwargs):
    shown: list[str] = []
    return LiveTranscript(shown.append, **kwargs), shown


def test_chunks_that_finish_out_of_order_are_shown_in_order_as_soon_as_they_can_be():
    live, shown = collect()
    live.add(4, chunk(2, "Third part here."))
    live.add(4, chunk(1, "Second part here."))
    assert shown == [], "chunk 1 is not in yet"
    live.add(4, chunk(0, "First part. It has two sentences."))
    assert shown == ["First part.\nIt has two sentences.", "Second part here.", "Third part here."]
    live.add(4, chunk(3, "Last part."))
    assert shown[-1] == "Last part."


def test_jobs_are_ordered_apart_and_a_missing_chunk_is_flushed_past_at_the_end():
    live, shown = collect()
    live.add(2, chunk(1, "B two.", job_id="b"))
    live.add(2, chunk(0, "A one.", job_id="a"))
    live.add(3, chunk(2, "B three.", job_id="b"))
    assert shown == ["A one."]
    # Chunk 0 of job b was stored by an earlier attempt and never reported.
    assert live.flush("b") is True
    assert shown == ["A one.", "B two.", "B three."]
    assert live.flush("b") is True and len(shown) == 3
    assert live.flush("never-reported") is False, "the caller prints the written TXT instead"


def test_the_padding_is_left_to_its_own_chunk_and_spellings_and_channels_apply():
    live, shown = collect(replacements={"cube control": "kubectl"})
    # 0.8 s of lead: its first two words are the end of chunk 0.
    live.add(2, chunk(0, "We start now.", channel=1))
    live.add(2, chunk(1, "start now. Run cube control apply.", start=-0.8, lead_s=0.8, channel=1))
    assert shown == ["[channel 1] We start now.", "[channel 1] Run kubectl apply."]


def test_with_several_jobs_each_job_s_text_starts_with_its_tag_where_it_changes():
    live, shown = collect(label_jobs=True)
    live.add(2, chunk(0, "A one.", job_id="a" * 32))
    live.add(2, chunk(1, "A two.", job_id="a" * 32))
    live.add(1, chunk(0, "B one.", job_id="b" * 32))
    assert shown == ["[aaaaaaaa]\nA one.", "A two.", "[bbbbbbbb]\nB one."]


def _spoken(text, start):
    """A segment of ``text`` as the decoder yields it: a word every 0.4 s from ``start``."""
    return chunk(0, text, start=start).segments[0]


def test_the_chunk_being_shown_streams_as_heard_and_its_stored_text_adds_only_what_was_missed():
    from kscribe.values import Chunk

    live, shown = collect()
    first, second = (Chunk("j", i, 2, f"/c{i}", i * 20.0, 20.0) for i in (0, 1))
    live.heard(first, _spoken("Good morning everyone.", 0.0))
    live.heard(second, _spoken("Not yet.", 1.0))  # a later chunk: it waits for its stored text
    live.heard(first, _spoken("The budget changed.", 6.0))
    assert shown == ["Good morning everyone.", "The budget changed."]
    # Stored: the first pass's words, and a piece the second decode recovered at 3.0 s.
    stored = chunk(0, "Good morning everyone.")
    recovered = chunk(0, "Thanks for coming.", start=3.0).segments[0]
    budget = chunk(0, "The budget changed.", start=6.0).segments[0]
    live.add(2, stored.__class__(**{**stored.__dict__, "segments": (stored.segments[0], recovered, budget)}))
    assert shown[2:] == ["Thanks for coming."]
    live.add(2, chunk(1, "Not yet. Now."))
    assert shown[3:] == ["Not yet.\nNow."]
