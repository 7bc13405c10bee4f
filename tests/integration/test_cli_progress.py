"""What ``kscribe run`` shows on stderr while a job goes through the real pipeline (Redis,
ffmpeg, storage; fake transcriber and voices): every stage, language detection and
speakers included."""

import io

from kscribe.choices import JobChoices
from kscribe.cli.progress import TerminalProgress
from kscribe.pipeline.runner import LocalPipeline
from kscribe.values import JobStatus
from tests.integration.test_speaker_pipeline import FakeVoices


def test_language_detection_and_speakers_are_stages_of_their_own(ctx, sample_copy, tmp_path):
    model = tmp_path / "model"  # a multilingual model as an operator names it; the fake never loads it
    model.mkdir()
    (model / "model.bin").write_bytes(b"")
    ctx.settings = ctx.settings.replace(model=str(model), chunk_target_s=12.0, language_windows=2, diarize=True)
    ctx.voices = FakeVoices()
    shown = io.StringIO()
    ctx.progress = TerminalProgress(stream=shown)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job = pipeline.submit(sample_copy, JobChoices(speakers=True)).job
    pipeline.run()
    assert ctx.jobs.require(job.id).status is JobStatus.SUCCEEDED
    tag = f"[{job.id[:8]}] "
    # Stage lines; the chunks' bars are tqdm's (redrawn with carriage returns).
    lines = [
        line.removeprefix(tag)
        for line in shown.getvalue().replace("\r", "\n").splitlines()
        if line.startswith(tag) and "transcribe chunk" not in line
    ]
    count = ctx.jobs.require(job.id).chunks_total
    assert count >= 2
    assert lines[:3] == [
        f"extract: {sample_copy}",
        "language: detecting, from 2 window(s) over the audio",
        "language: en (en 100%)",
    ]
    for n in range(1, count + 1):
        assert f"speakers: finding voices in chunk {n}/{count}" in lines
        assert any(line.startswith(f"speakers: chunk {n}/{count}: ") and "voice turn(s)" in line for line in lines)
    assert lines[-1] == "publish: telling the speakers apart, then writing the outputs"
