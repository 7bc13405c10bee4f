"""Structured logs: one JSON object per line, in the fields Cloud Logging understands
(severity, message, time), with the job id and event id on every line of a job's work."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time

_JOB_ID: contextvars.ContextVar[str] = contextvars.ContextVar("kscribe_job_id", default="")
_EVENT_ID: contextvars.ContextVar[str] = contextvars.ContextVar("kscribe_event_id", default="")


@contextlib.contextmanager
def log_context(job_id: str = "", event_id: str = ""):
    """Every log line inside carries these ids (per thread / task)."""
    tokens = [_JOB_ID.set(job_id), _EVENT_ID.set(event_id)]
    try:
        yield
    finally:
        _EVENT_ID.reset(tokens[1])
        _JOB_ID.reset(tokens[0])


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        job_id, event_id = _JOB_ID.get(), _EVENT_ID.get()
        if job_id:
            entry["job_id"] = job_id
        if event_id:
            entry["event_id"] = event_id
        if job_id or event_id:
            entry["logging.googleapis.com/labels"] = {k: v for k, v in (("job_id", job_id), ("event_id", event_id)) if v}
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send every log record to stdout as one JSON line. Idempotent."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
