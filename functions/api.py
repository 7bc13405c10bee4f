"""api: the HTTP job API (create, read, list, download, cancel) over the same pipeline."""

import json

import flask
import functions_framework
import runtime

from kscribe import health, metrics
from kscribe.api import Api, ApiRequest, error_body
from kscribe.api_input import client_address, stream_reader

runtime.install_routes(health.checks_for(lambda: runtime.context()), public=True)
runtime.keep_request_bodies_unread()


def _api() -> Api:
    ctx = runtime.context()

    def stuck() -> float:
        try:
            return ctx.jobs.stuck_jobs(ctx.settings.stuck_after_s)
        except Exception:  # noqa: BLE001 - Redis down: say "unknown", do not fail the scrape
            return float("nan")

    metrics.JOBS_STUCK.set_function(stuck)
    return Api(ctx)


_instance = runtime.once(_api)


@functions_framework.http
def api(request: flask.Request):
    settings = runtime.context().settings
    # The body stays on the socket until the API asks for it, after the key is checked.
    answer = _instance().handle(ApiRequest(
        method=request.method, path=request.path, query=request.args.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        read_body=stream_reader(request.stream, request.content_length),
        client=client_address(request.remote_addr or "", request.headers.get("X-Forwarded-For", ""),
                              settings.trusted_proxies),
    ))
    try:
        runtime.sink().publish(answer.events)
    except Exception:  # noqa: BLE001 - the job must not stay queued with nobody told
        runtime.log.exception("could not publish for %s %s", request.method, request.path)
        if answer.rollback:
            answer.rollback()
        body = error_body("unavailable", "the pipeline cannot take jobs right now; retry later")
        return flask.Response(json.dumps(body), 503, {"Content-Type": "application/json", "Retry-After": "5"})
    body = answer.body
    headers = dict(answer.headers)
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return flask.Response(body, answer.status, headers)
