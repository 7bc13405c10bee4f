"""What every kscribe function shares: CloudEvents in and out, the process's context, JSON
logs, and the health and metrics routes. The entries beside this file are a few lines each on top of it.

functions-framework puts this directory on ``sys.path``, so entries ``import runtime``.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import flask
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from werkzeug.serving import WSGIRequestHandler, make_server

from kscribe.asr.whisper import options_from_settings
from kscribe.context import Context, Handler
from kscribe.errors import ScratchFull, TransientError, WorkClaimed
from kscribe.events import Event
from kscribe.observability import metrics
from kscribe.observability.logs import configure_json_logging, event_log_context
from kscribe.pipeline import event_auth
from kscribe.pipeline.stages.announce import record_announced
from kscribe.runtime import wiring
from kscribe.runtime.health import Check, run_checks
from kscribe.settings import Settings
from kscribe.storage import scratch

log = logging.getLogger("kscribe.functions")
configure_json_logging()


@functools.lru_cache(maxsize=1)
def context() -> Context:
    """The process's context, built on first use (not at import: Redis may still be starting).
    Its scratch directory is prepared then, in the worker that uses it, sweeping what killed
    workers left behind."""
    settings = context_settings()
    scratch.prepare(settings)
    return wiring.create_context(settings)


def to_event(cloud_event: CloudEvent) -> Event:
    data = cloud_event.data
    if isinstance(data, (bytes, str)):
        data = json.loads(data) if data else {}
    return Event(
        type=cloud_event["type"],
        data=data if isinstance(data, dict) else {},
        id=cloud_event["id"],
        source=cloud_event["source"],
        subject=cloud_event.get("subject") or "",
    )


def to_cloud_event(event: Event) -> CloudEvent:
    attributes = {"type": event.type, "source": event.source, "id": event.id, "datacontenttype": "application/json"}
    if event.subject:
        attributes["subject"] = event.subject
    attributes.update(event.extensions)
    return CloudEvent(attributes, event.data)


class HttpSink:
    """Publishes events to the broker in K_SINK with the CloudEvents HTTP binding (binary).

    With ``token_file`` (Knative Eventing's OIDC: the SinkBinding mounts the publisher's
    token there) every publish carries it as a bearer token; it is read each time, since
    the kubelet rotates it in place."""

    def __init__(self, url: str, timeout_s: float, token_file: str = ""):
        self.url = url
        self.timeout_s = timeout_s
        self.token_file = token_file
        self.session = requests.Session()

    def _authorization(self) -> dict[str, str]:
        if not self.token_file:
            return {}
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise TransientError(f"cannot read the publishing token {self.token_file}: {exc}") from exc
        return {"Authorization": f"Bearer {token}"}

    def publish(self, events: list[Event]) -> None:
        if events and not self.url:
            raise TransientError("K_SINK is not set: no broker to publish to (is the SinkBinding applied?)")
        for event in events:
            headers, body = to_binary(to_cloud_event(event))
            headers.update(self._authorization())
            try:
                response = self.session.post(self.url, data=body, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                raise TransientError(f"cannot publish {event.type} to {self.url}: {exc}") from exc
            if response.status_code >= 300:
                raise TransientError(f"broker answered {response.status_code} to {event.type}: {response.text[:200]}")


def once(factory):
    """``factory()`` built on first call, then reused (like the context)."""
    return functools.lru_cache(maxsize=1)(factory)


@functools.lru_cache(maxsize=1)
def sink() -> HttpSink:
    settings = context().settings
    return HttpSink(settings.sink_url, settings.sink_timeout_s, settings.sink_token_file)


def deliver(cloud_event: CloudEvent, handler: Handler) -> None:
    """Run ``handler`` on the event and publish what it returns.

    Raising makes functions-framework answer 500, so the broker redelivers with backoff;
    handlers answer bad input themselves (failed job, 2xx), so only transient trouble raises.
    """
    _check_sender(cloud_event)
    event = to_event(cloud_event)
    with event_log_context(event):
        ctx = context()
        try:
            produced = handler(event, ctx)
        except WorkClaimed as exc:
            # A duplicate of a delivery still running: expected, so a 503 without a
            # traceback; the broker redelivers and then finds the result.
            log.info("%s", exc)
            flask.abort(503, str(exc))
        except ScratchFull as exc:
            # This pod's disk is full, the event is fine: a 503, like a pod without capacity,
            # so a delivery that runs out of retries is queued again (dead letter), not failed.
            log.warning("%s", exc)
            flask.abort(503, str(exc))
        publish(produced, ctx, after=event.type)


def publish(produced: list[Event], ctx: Context, after: str = "") -> None:
    """Publish and record what was announced. Raising (the broker is down) fails the
    delivery, so it is retried and re-announces what did not go out."""
    try:
        sink().publish(produced)
    except Exception:
        log.exception("could not publish %d event(s) after %s; the delivery will be retried", len(produced), after)
        raise
    record_announced(produced, ctx)


def register_stuck_gauge() -> None:
    """kscribe_jobs_stuck, answered at every scrape from the first one on (not only once a
    request built the context)."""

    def stuck() -> float:
        try:
            ctx = context()
            return float(ctx.jobs.jobs_lost())
        except Exception:
            return float("nan")

    metrics.JOBS_STUCK.set_function(stuck)


@functools.lru_cache(maxsize=4)
def event_auth_for(settings: Settings) -> event_auth.EventAuth | None:
    """One check (and its cache of signing keys) per configuration."""
    return event_auth.from_settings(settings)


def _check_sender(cloud_event: CloudEvent) -> None:
    """With KSCRIBE_EVENT_AUTH=oidc, answer 401 to a delivery that does not carry the broker's
    token. 401 (not 5xx): a forged event must not be retried; the broker's own always passes."""
    auth = event_auth_for(context().settings)
    if auth is None:
        return
    try:
        auth.verify(flask.request.headers.get("Authorization", ""))
    except event_auth.Unauthenticated as exc:
        metrics.EVENTS_REJECTED.labels(metrics.event_type_label(cloud_event["type"]), "unauthenticated").inc()
        log.warning("refused event %s (%s): %s", cloud_event["id"], cloud_event["type"], exc)
        flask.abort(
            flask.Response(
                json.dumps({"error": {"code": "unauthenticated", "message": str(exc)}}),
                401,
                {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"},
            )
        )


def dead_letter_reason(cloud_event: CloudEvent) -> str:
    """Why Knative gave up, from the extensions it adds to a dead-lettered event."""
    code = cloud_event.get("knativeerrorcode") or "?"
    dest = cloud_event.get("knativeerrordest") or "the subscriber"
    data = cloud_event.get("knativeerrordata") or ""
    try:
        data = base64.b64decode(data).decode("utf-8", "replace")
    except ValueError:
        pass
    return f"HTTP {code} from {dest}" + (f": {data.strip()[:300]}" if data.strip() else "")


def install_routes(checks: dict[str, Check] | None = None, *, public: bool = False) -> None:
    """Add GET /health/live, /health/ready and /metrics to the app functions-framework is
    building (entries call this at import, which functions-framework runs in the app context).

    Metrics are served by the worker process that does the work; see kscribe/observability/metrics.py.
    ``public`` (the api function, reachable from the internet): readiness says only ok or fail,
    and /metrics and the detailed readiness move to the internal server (KSCRIBE_INTERNAL_PORT).
    """
    app = flask.current_app
    checks = checks or {}

    def live():
        return {"status": "ok"}

    def ready():
        ok, results = run_checks(checks)
        return flask.jsonify({"status": "ok" if ok else "fail", "checks": results}), 200 if ok else 503

    def terse_ready():
        ok, _ = run_checks(checks)
        return flask.jsonify({"status": "ok" if ok else "fail"}), 200 if ok else 503

    app.add_url_rule("/health/live", "health_live", live, methods=["GET"])
    if not public:
        app.add_url_rule("/health/ready", "health_ready", ready, methods=["GET"])
        app.add_url_rule("/metrics", "metrics", _scrape, methods=["GET"])
        return
    app.add_url_rule("/health/ready", "health_ready", terse_ready, methods=["GET"])
    internal = flask.Flask("kscribe-internal")
    internal.add_url_rule("/health/live", "health_live", live, methods=["GET"])
    internal.add_url_rule("/health/ready", "health_ready", ready, methods=["GET"])
    internal.add_url_rule("/metrics", "metrics", _scrape, methods=["GET"])
    # Started by the first request, not here: functions-framework imports this module in
    # gunicorn's arbiter, and a thread started there would not survive the fork into the
    # worker whose metrics it must serve.
    app.before_request(lambda: _serve_internal(internal))


def _scrape():
    body, content_type = metrics.exposition(context_settings().metrics_multiprocess_dir)
    return flask.Response(body, content_type=content_type)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # a scrape every few seconds is not news
        pass


_internal_lock = threading.Lock()
_internal_pid = [0]


def _serve_internal(app: flask.Flask) -> None:
    """Serve ``app`` on KSCRIBE_INTERNAL_HOST:KSCRIBE_INTERNAL_PORT from a daemon thread of
    this process, once per process."""
    settings = context_settings()
    if not settings.internal_port or _internal_pid[0] == os.getpid():
        return
    with _internal_lock:
        if _internal_pid[0] == os.getpid():
            return
        _internal_pid[0] = os.getpid()
        try:
            server = make_server(
                settings.internal_host, settings.internal_port, app, threaded=True, request_handler=_QuietHandler
            )
        except OSError as exc:  # another gunicorn worker of this pod serves it (WORKERS > 1)
            log.warning("internal server not started on %s:%d: %s", settings.internal_host, settings.internal_port, exc)
            return
        threading.Thread(target=server.serve_forever, name="internal-http", daemon=True).start()
        log.info(
            "internal server (metrics, detailed readiness) on %s:%d", settings.internal_host, settings.internal_port
        )


def keep_request_bodies_unread() -> None:
    """Stop functions-framework from reading every request's whole body after the response.

    Its ``read_request`` hook (HTTP functions) calls ``request.get_data()`` so that an answer
    given before the body was read does not reset the connection; for a 401 to an 800 MB POST
    that read is the 800 MB. gunicorn already drains a bounded amount of an unread body and
    then closes the connection, so nothing is lost by dropping the hook. It is added after the
    entry module is imported, so it is removed on the first request.
    """
    app = flask.current_app

    def drop_hook():
        hooks = app.after_request_funcs.get(None, [])
        hooks[:] = [
            h
            for h in hooks
            if getattr(h, "__name__", "") != "read_request"
            or not getattr(h, "__module__", "").startswith("functions_framework")
        ]

    app.before_request(drop_hook)


@functools.lru_cache(maxsize=1)
def context_settings() -> Settings:
    return Settings.from_env()


class ModelWarmup:
    """Loads the transcription model in the background on the first readiness probe, so the
    function turns ready only once the model is in memory (and never loads it at import)."""

    def __init__(self, load: Callable[[Context], None] | None = None) -> None:
        # What to load: the transcription model unless told otherwise (diarize's voices).
        self._load_into = load
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._done = threading.Event()

    def _load(self) -> None:
        try:
            ctx = context()
            if self._load_into is not None:
                self._load_into(ctx)
            else:
                ctx.transcriber.load(options_from_settings(ctx.settings))
        except Exception as exc:
            log.exception("model load failed")
            self._error = exc
        finally:
            self._done.set()

    def check(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="model-warmup", daemon=True)
                self._thread.start()
        if not self._done.is_set():
            raise RuntimeError("model is loading")
        if self._error is not None:
            raise RuntimeError(f"model failed to load: {self._error}")
