"""Structured logs: one JSON object per line, in the fields Cloud Logging understands
(severity, message, time), with the job id and event id on every line of a job's work.

The ids live in context variables, which a new thread does not inherit: work handed to a
thread or a pool runs through ``carry_context`` (or opens its own ``log_context``). An
exception that leaves a ``log_context`` takes the ids with it, so the line that finally
logs it (functions-framework's 500, a bus giving up after retries) names the job even
though it is written outside the block.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_JOB_ID: contextvars.ContextVar[str] = contextvars.ContextVar("kscribe_job_id", default="")
_EVENT_ID: contextvars.ContextVar[str] = contextvars.ContextVar("kscribe_event_id", default="")


# Set on an exception as it leaves a log_context: (job_id, event_id).
_IDS_ATTR = "_kscribe_log_ids"


@contextlib.contextmanager
def log_context(job_id: str = "", event_id: str = "") -> Iterator[None]:
    """Every log line inside carries these ids (per thread / task), and so does the line
    that logs an exception escaping the block, wherever it is written."""
    tokens = [_JOB_ID.set(job_id), _EVENT_ID.set(event_id)]
    try:
        yield
    except BaseException as exc:
        if not hasattr(exc, _IDS_ATTR):  # the innermost context names the work that failed
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, _IDS_ATTR, (job_id, event_id))
        raise
    finally:
        _EVENT_ID.reset(tokens[1])
        _JOB_ID.reset(tokens[0])


def event_log_context(event: Any) -> contextlib.AbstractContextManager[None]:
    """``log_context`` for an event (anything with ``.id`` and a ``.data`` dict that may hold
    ``job_id``): what a bus or function opens around each delivery."""
    data = getattr(event, "data", None)
    job_id = data.get("job_id", "") if isinstance(data, dict) else ""
    return log_context(job_id=job_id if isinstance(job_id, str) else "", event_id=str(getattr(event, "id", "")))


def carry_context(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to a copy of the caller's context, so that run in another thread
    (``pool.submit(carry_context(fn), ...)``, ``Thread(target=carry_context(fn))``) it logs
    with the caller's job and event ids."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        return context.run(fn, *args, **kwargs)

    return run


def _ids_of(record: logging.LogRecord) -> tuple[str, str]:
    """The ids in force where ``record`` was made, else those its exception carries (its
    ``exc_info``, or an exception among its arguments: ``log.error("gave up: %s", exc)``)."""
    job_id, event_id = _JOB_ID.get(), _EVENT_ID.get()
    if job_id or event_id:
        return job_id, event_id
    candidates = [record.exc_info[1]] if record.exc_info and record.exc_info[1] is not None else []
    args = record.args if isinstance(record.args, tuple) else ()
    candidates += [a for a in args if isinstance(a, BaseException)]
    for candidate in candidates:
        exc: BaseException | None = candidate
        seen = 0
        while exc is not None and seen < 8:  # a wrapper raised outside the block: look at its cause
            ids = getattr(exc, _IDS_ATTR, None)
            if ids:
                return str(ids[0]), str(ids[1])
            exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return "", ""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        job_id, event_id = _ids_of(record)
        if job_id:
            entry["job_id"] = job_id
        if event_id:
            entry["event_id"] = event_id
        if job_id or event_id:
            entry["logging.googleapis.com/labels"] = {
                k: v for k, v in (("job_id", job_id), ("event_id", event_id)) if v
            }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            entry["audit"] = audit
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
