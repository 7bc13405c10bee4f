"""One table says which stage an unfinished job waits on (kscribe.values.STAGE_OF_STATUS); the
reconciler and the dead-letter sink read it, so the names must be the pipeline's own stages."""

from kscribe.pipeline.reconcile import base_lease
from kscribe.pipeline.stages.extract import STAGE as EXTRACT
from kscribe.pipeline.stages.publish import STAGE as PUBLISH
from kscribe.pipeline.stages.transcribe import STAGE as TRANSCRIBE
from kscribe.values import STAGE_OF_STATUS, JobStatus


def test_every_unfinished_status_waits_on_a_stage_in_pipeline_order():
    by_rank = sorted((s for s in JobStatus if not s.terminal), key=lambda s: s.rank)
    assert [s.stage for s in by_rank] == ["extract", "extract", "transcribe", "publish"]
    assert all(s.stage is None for s in JobStatus if s.terminal)
    assert set(STAGE_OF_STATUS) == set(by_rank)


def test_the_stages_named_are_the_stage_modules_and_each_has_its_lease(settings):
    assert set(STAGE_OF_STATUS.values()) == {EXTRACT, TRANSCRIBE, PUBLISH}
    own = settings.replace(redrive_extract_s=11.0, redrive_transcribe_s=12.0, redrive_publish_s=13.0)
    assert sorted(base_lease(own, stage) for stage in set(STAGE_OF_STATUS.values())) == [11.0, 12.0, 13.0]
