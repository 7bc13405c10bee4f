"""`make submit` (python -m kscribe_stack submit): where a finished job's transcript is read."""

from __future__ import annotations

from pathlib import Path

from kscribe.cli.main import describe
from kscribe.values import Job, JobStatus
from kscribe_stack.__main__ import parser
from kscribe_stack.submit import local_copies


def test_a_finished_job_s_outputs_are_copied_where_they_can_be_opened(ctx, tmp_path):
    stored = tmp_path / "bucket" / "output" / "0123abcd"
    stored.mkdir(parents=True)
    (stored / "talk.txt").write_text("Hello there.\n")
    (stored / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there.\n")
    job = Job(
        id="0123abcd" * 4,
        source_uri="gs://input/talk.mp4",
        source_generation="1",
        output_uri=str(stored.parent),
        output_stem="talk",
        model="tiny.en",
        language=None,
        task="transcribe",
        formats=("txt", "srt"),
        status=JobStatus.SUCCEEDED,
        outputs={"txt": str(stored / "talk.txt"), "srt": str(stored / "talk.srt")},
    )
    out = tmp_path / "out"
    copied = local_copies(ctx.blobs, job, out)
    assert copied.outputs == {"txt": str(out / "talk.txt"), "srt": str(out / "talk.srt")}
    assert (out / "talk.txt").read_text() == "Hello there.\n"
    shown = describe(copied)
    assert f"txt: {out / 'talk.txt'}" in shown and str(stored) not in shown


def test_submit_copies_into_out_unless_told_otherwise():
    args = parser().parse_args(["submit", "talk.mp4"])
    assert args.out == Path("out")
    assert parser().parse_args(["submit", "talk.mp4", "--out", "/tmp/x"]).out == Path("/tmp/x")
