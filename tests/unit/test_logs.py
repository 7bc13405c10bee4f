import json
import logging

from kscribe.logs import JsonFormatter, log_context


def test_lines_are_json_with_severity_and_job_ids():
    formatter = JsonFormatter()
    record = logging.LogRecord("kscribe.x", logging.WARNING, __file__, 1, "chunk %d failed", (3,), None)
    with log_context(job_id="j1", event_id="j1/chunk/3"):
        line = json.loads(formatter.format(record))
    assert line["severity"] == "WARNING" and line["message"] == "chunk 3 failed"
    assert line["job_id"] == "j1" and line["event_id"] == "j1/chunk/3"
    assert line["logging.googleapis.com/labels"] == {"job_id": "j1", "event_id": "j1/chunk/3"}
    assert line["time"].endswith("Z")
    outside = json.loads(formatter.format(record))
    assert "job_id" not in outside, "the context ends with the block"
