from kscribe.transcript.merge import merge_chunks
from kscribe.values import ChunkTranscript, Job, Segment, Word

JOB = Job(
    id="j",
    source_uri="/v.mp4",
    source_generation="1",
    output_uri="/o",
    output_stem="v",
    model="m",
    language=None,
    task="transcribe",
    formats=("txt",),
)


def chunk(index, start, duration, segments, language="en"):
    return ChunkTranscript("j", index, start, duration, language, 0.9, tuple(segments), "m")


def test_segments_move_onto_the_video_timeline_in_chunk_order():
    second = chunk(1, 600.0, 300.0, [Segment(0.2, 1.0, " b", (Word(0.2, 1.0, " b", 1.0),))])
    first = chunk(0, 0.0, 600.0, [Segment(1.0, 2.0, " a")])
    merged = merge_chunks(JOB, [second, first])
    assert [(s.start, s.end, s.text) for s in merged.segments] == [(1.0, 2.0, " a"), (600.2, 601.0, " b")]
    assert merged.segments[1].words[0].start == 600.2
    assert merged.duration_s == 900.0


def test_times_past_a_chunk_end_are_clamped_so_the_timeline_never_runs_back():
    merged = merge_chunks(
        JOB, [chunk(0, 0.0, 10.0, [Segment(9.0, 10.4, " x")]), chunk(1, 10.0, 5.0, [Segment(0.0, 1.0, " y")])]
    )
    ends = [s.end for s in merged.segments]
    starts = [s.start for s in merged.segments]
    assert ends[0] == 10.0 and starts[1] >= ends[0]


def test_language_is_the_one_with_most_speech():
    merged = merge_chunks(
        JOB, [chunk(0, 0, 60, [Segment(0, 2, " la")], "fr"), chunk(1, 60, 60, [Segment(0, 50, " the")], "en")]
    )
    assert merged.language == "en"
