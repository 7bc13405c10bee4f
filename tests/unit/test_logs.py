import json
import logging
import sys

from kscribe.observability.logs import JsonFormatter, log_context


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


def _line(formatter, logger_name, level, msg, args=(), exc_info=None):
    record = logging.LogRecord(logger_name, level, __file__, 1, msg, args, exc_info)
    return json.loads(formatter.format(record))


def test_an_exception_leaving_the_context_is_logged_with_its_job():
    # functions-framework logs a handler's exception after deliver's log_context has ended.
    formatter = JsonFormatter()
    try:
        with log_context(job_id="j2", event_id="e2"):
            try:
                raise OSError("redis went away")
            except OSError as exc:
                raise RuntimeError("delivery failed") from exc
    except RuntimeError as exc:
        caught = exc
    line = _line(
        formatter,
        "flask.app",
        logging.ERROR,
        "Exception on / [POST]",
        exc_info=(type(caught), caught, caught.__traceback__),
    )
    assert line["job_id"] == "j2" and line["event_id"] == "e2" and "redis went away" in line["stack_trace"]
    # An exception passed as an argument (a bus giving up: log.error("...: %s", exc)) too.
    assert _line(formatter, "kscribe.pipeline.bus", logging.ERROR, "giving up: %s", (caught,))["job_id"] == "j2"


def test_the_innermost_context_names_the_job():
    try:
        with log_context(job_id="outer"), log_context(job_id="inner"):
            raise ValueError("bad")
    except ValueError as exc:
        caught = exc
    assert _line(JsonFormatter(), "x", logging.ERROR, "%s", (caught,))["job_id"] == "inner"


def test_work_in_a_thread_pool_logs_with_the_submitters_ids():
    from concurrent.futures import ThreadPoolExecutor

    from kscribe.observability.logs import carry_context

    formatter = JsonFormatter()
    lines = []

    def work():
        try:
            raise ZeroDivisionError("in the worker")
        except ZeroDivisionError:
            lines.append(
                _line(formatter, "kscribe.asr.whisper", logging.ERROR, "chunk failed", exc_info=sys.exc_info())
            )
        lines.append(_line(formatter, "kscribe.asr.whisper", logging.INFO, "plain line"))

    with ThreadPoolExecutor(max_workers=1) as pool, log_context(job_id="j3", event_id="j3/chunk/0"):
        pool.submit(carry_context(work)).result()
        pool.submit(work).result()  # without it the thread has no ids: why carry_context exists
    assert [line.get("job_id") for line in lines] == ["j3", "j3", None, None]
    assert "in the worker" in lines[0]["stack_trace"]


def test_event_log_context_reads_the_events_job():
    from kscribe.events import Event
    from kscribe.observability.logs import event_log_context

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    with event_log_context(Event(type="t", data={"job_id": "j4"}, id="ev4", source="s")):
        line = json.loads(JsonFormatter().format(record))
    assert line["job_id"] == "j4" and line["event_id"] == "ev4"
    with event_log_context(Event(type="t", data={"job_id": 7}, id="ev5", source="s")):
        assert "job_id" not in json.loads(JsonFormatter().format(record))
