"""The event contract: every example validates against its schema and round-trips through
its type in ``kscribe.events``."""

import json
import re

import jsonschema
import pytest

from kscribe import events
from kscribe.values import Chunk
from tests.conftest import ROOT

EVENTS = ROOT / "events"
CATALOG = json.loads((EVENTS / "catalog.json").read_text())["types"]
EXAMPLES = sorted(EVENTS.glob("*.example.json"))


def test_every_kscribe_event_type_has_a_type_an_example_and_a_schema():
    typed = {t for t, entry in CATALOG.items() if entry["schema"]}
    assert typed == set(events.TYPES)
    assert {json.loads(p.read_text())["type"] for p in EXAMPLES} == typed


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_validates_and_round_trips_through_its_type(path):
    example = json.loads(path.read_text())
    schema = json.loads((EVENTS / CATALOG[example["type"]]["schema"]).read_text())
    jsonschema.validate(example["data"], schema)
    decoded = events.TYPES[example["type"]].from_dict(example["data"])
    assert decoded.to_dict() == example["data"]
    assert decoded.event().type == example["type"]
    jsonschema.validate(decoded.event().data, schema)


@pytest.mark.parametrize(
    "kind, data",
    [
        (events.JobCreated, {}),
        (events.JobCreated, {"job_id": "../../etc"}),
        (events.JobCreated, ["not", "an", "object"]),
        (events.ChunkReady, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f"}),
        (events.ChunkReady, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "index": True}),
        (events.ChunkReady, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "index": 0, "uri": 7}),
        (events.ChunkReady, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "index": 0, "channel": -1}),
        (events.JobFailed, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "stage": "extract"}),
        (events.JobCompleted, {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "outputs": {"txt": 1}}),
    ],
)
def test_malformed_data_does_not_decode(kind, data):
    with pytest.raises(events.MalformedEvent):
        kind.from_dict(data)


FAILED = {"job_id": "5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", "failed_stage": "extract", "error": "no audio track"}


def test_job_failed_names_a_failure_as_the_job_record_does_and_keeps_the_former_names():
    data = events.JobFailed.from_dict(FAILED).to_dict()
    assert data == {**FAILED, "stage": "extract", "reason": "no audio track"}


def test_job_failed_from_a_producer_of_the_release_before_still_decodes():
    former = {"job_id": FAILED["job_id"], "stage": "extract", "reason": "no audio track"}
    assert events.JobFailed.from_dict(former) == events.JobFailed.from_dict(FAILED)


def test_a_chunk_of_a_channel_says_so_and_validates():
    schema = json.loads((EVENTS / "chunk.ready.v1.schema.json").read_text())
    chunk = Chunk("5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", 3, 4, "gs://w/c.wav", 0.0, 12.5, channel=2)
    event = events.chunk_ready(chunk)
    jsonschema.validate(event.data, schema)
    assert event.data["channel"] == 2
    assert events.ChunkReady.from_dict(event.data).channel == 2
    assert Chunk.from_dict(chunk.to_dict()) == chunk
    # A manifest or event from before channels: mixed audio.
    legacy = {k: v for k, v in chunk.to_dict().items() if k != "channel"}
    assert Chunk.from_dict(legacy).channel == 0 and events.ChunkReady.from_dict(legacy).channel is None


def test_every_stage_that_fails_a_job_is_a_failed_stage_of_the_contract():
    import importlib

    schema = json.loads((EVENTS / CATALOG[events.JOB_FAILED]["schema"]).read_text())
    for name in ("extract", "transcribe", "diarize", "publish"):
        stage = importlib.import_module(f"kscribe.pipeline.stages.{name}").STAGE
        data = events.job_failed("5f0c6b6a2d9b4c1e9a7f3e2d1c0b9a8f", stage, "it kept failing").data
        jsonschema.validate(data, schema)


CORE_ATTRIBUTES = {"specversion", "type", "source", "id", "subject", "time", "datacontenttype", "dataschema", "data"}


def test_extension_attributes_are_well_named_documented_and_set_only_when_they_apply():
    example = json.loads((EVENTS / "chunk.ready.v1.example.json").read_text())
    extensions = {k: v for k, v in example.items() if k not in CORE_ATTRIBUTES}
    chunk = Chunk(job_id="a" * 32, index=0, count=1, uri="gs://w/a/0.wav", start_s=0.0, duration_s=5.0)
    assert events.chunk_ready(chunk, speakers=True).extensions == extensions == {events.SPEAKERS_EXTENSION: "true"}
    assert events.chunk_ready(chunk).extensions == {}
    readme = (EVENTS / "README.md").read_text()
    for name in extensions:
        assert re.fullmatch(r"[a-z0-9]{1,20}", name), "CloudEvents extension names: lower-case a-z, 0-9"
        assert f"`{name}`" in readme
