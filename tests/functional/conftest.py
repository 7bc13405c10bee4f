"""Functions loaded by functions-framework itself, fed real CloudEvent encodings, publishing
over HTTP to a capturing sink."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import functions_framework
import jsonschema
import pytest
from cloudevents.http import from_http

from kscribe import events
from kscribe.observability.logs import JsonFormatter
from tests.conftest import ROOT

FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events"
CATALOG = json.loads((EVENTS / "catalog.json").read_text())["types"]
ENTRIES = {
    "ingest": "ingest",
    "extract": "extract",
    "transcribe": "transcribe",
    "diarize": "diarize",
    "publish": "publish",
    "notify": "notify",
    "dead-letter": "dead_letter",
    "api": "api",
    "reconcile": "reconcile",
}


def validate(event_type: str, data: dict) -> None:
    """``data`` matches its schema and round-trips through its type in ``kscribe.events``."""
    schema_file = CATALOG[event_type]["schema"]
    jsonschema.validate(data, json.loads((EVENTS / schema_file).read_text()))
    assert events.TYPES[event_type].from_dict(data).to_dict() == data


class CaptureSink:
    """An HTTP server standing in for the broker: records every CloudEvent posted to it."""

    def __init__(self) -> None:
        self.events = []
        self.headers = []
        self.status = 202
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.events.append(from_http(dict(self.headers), body))
                sink.headers.append(dict(self.headers))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    capture = CaptureSink()
    yield capture
    capture.close()


@pytest.fixture(autouse=True)
def _drop_json_logging():
    """runtime installs a stdout JSON log handler; it must not outlive the test's stdout."""
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, JsonFormatter)]


@pytest.fixture
def apps(ctx, sink, monkeypatch):
    """Test clients for every function, sharing ``ctx`` (fake transcriber) and the sink."""
    clients = {
        name: functions_framework.create_app(target, str(FUNCTIONS / f"{target}.py")).test_client()
        for name, target in ENTRIES.items()
    }
    import runtime  # on sys.path now: functions-framework adds the functions directory

    ctx.settings = ctx.settings.replace(sink_url=sink.url)
    monkeypatch.setattr(runtime, "context", lambda: ctx)
    monkeypatch.setattr(runtime, "sink", lambda: runtime.HttpSink(sink.url, 5.0))
    return clients


def binary_headers(event_type: str, event_id: str, **extra: str) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": "/test",
        "ce-id": event_id,
        "Content-Type": "application/json",
    }
    headers.update({f"ce-{k}": v for k, v in extra.items()})
    return headers


def post_cloudevent(client, cloud_event):
    """Deliver a captured CloudEvent the way the broker does (binary mode)."""
    from cloudevents.conversion import to_binary

    headers, body = to_binary(cloud_event)
    return client.post("/", headers=headers, data=body)


def object_notification(path: Path, generation: str | None = None) -> dict:
    """What GCS would send for ``path`` (the local store's generation is the mtime)."""
    return {
        "bucket": str(path.parent),
        "name": path.name,
        "generation": generation or str(path.stat().st_mtime_ns),
        "size": str(path.stat().st_size),
        "contentType": "video/mp4",
        "metadata": {},
    }
