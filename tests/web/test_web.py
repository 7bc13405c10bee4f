"""The web page in a real browser (headless Debian chromium) against the local stack, and the
routes it uses held to the tenant boundaries."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
import requests

from kscribe.asr import voices
from kscribe.media.ffmpeg_bin import ffmpeg_executable
from tests.conftest import ROOT, SAMPLE_VIDEO, wait_for
from tests.media_files import ffmpeg

UPLOADS = "/api/v1/uploads"
BASE = "/api/v1/transcriptions"


def _until(driver, condition, timeout_s=60.0):
    """WebDriverWait on ``condition(driver)``: polls, never sleeps a fixed time."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout_s, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def _shot(driver, name):
    driver.save_screenshot(str(driver.shots / f"{name}.png"))


def _job_row(driver, file_name):
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#jobs li.job"):
        if row.find_element(By.CSS_SELECTOR, ".name").text == file_name:
            return row
    return None


def _status(driver, file_name):
    from selenium.webdriver.common.by import By

    row = _job_row(driver, file_name)
    return row.find_element(By.CSS_SELECTOR, ".status").text if row else None


def _upload(driver, path):
    """Choose ``path`` and press Transcribe: choosing alone sends nothing."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "files").send_keys(str(path))
    _until(
        driver,
        lambda d: path.name in [li.get_attribute("data-file") for li in d.find_elements(By.CSS_SELECTOR, "#chosen li")],
    )
    driver.find_element(By.ID, "transcribe").click()


def _sign_in(driver, web):
    from selenium.webdriver.common.by import By

    driver.get(web.api + "/")
    driver.find_element(By.ID, "key").send_keys(web.acme.token)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _until(driver, lambda d: d.find_element(By.ID, "home").is_displayed())


def _dubbed_interview(path, scratch):
    """An MKV whose first audio track (the default) is German and whose second is a stereo
    English interview, one voice per channel: only the options make it two labelled speakers."""
    from tests.integration.test_channels import interview

    stereo, _ = interview(scratch / "interview.wav")
    german = scratch / "de.wav"
    text = "Guten Morgen. Berlin, Hamburg und München sind schöne Städte."
    subprocess.run(["espeak-ng", "-v", "de", "-s", "150", "-w", str(german), text], check=True, timeout=60)
    ffmpeg(
        *["-f", "lavfi", "-i", "color=c=black:s=64x64:r=5:d=16", "-i", str(german), "-i", str(stereo)],
        *["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "mpeg4", "-c:a", "aac"],
        *["-metadata:s:a:0", "language=ger", "-metadata:s:a:1", "language=eng"],
        *["-disposition:a:0", "default", "-disposition:a:1", "0", str(path)],
    )
    return path


def test_advanced_options_reach_the_job_and_speakers_are_labelled(web, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    film = _dubbed_interview(tmp_path / "dubbed-interview.mkv", tmp_path)
    driver = browser
    _sign_in(driver, web)
    # The advanced options start closed, at the service's defaults.
    advanced = driver.find_element(By.ID, "advanced")
    assert advanced.get_attribute("open") is None
    assert not driver.find_element(By.ID, "opt-audio-track").is_displayed()
    advanced.find_element(By.TAG_NAME, "summary").click()
    track = driver.find_element(By.ID, "opt-audio-track")
    channels = Select(driver.find_element(By.ID, "opt-channels"))
    multilingual = driver.find_element(By.ID, "opt-multilingual")
    assert track.get_attribute("value") == "" and channels.first_selected_option.get_attribute("value") == "mix"
    assert not multilingual.is_selected()
    # Each control has a label of its own and a hint read with it.
    for control in (track, driver.find_element(By.ID, "opt-channels"), multilingual):
        name = control.get_attribute("id")
        assert driver.find_element(By.CSS_SELECTOR, f"label[for='{name}']").text
        assert driver.find_element(By.ID, control.get_attribute("aria-describedby")).text
    track.send_keys("en")
    channels.select_by_value("split")
    if voices.available():  # the stack diarizes: the page offers speaker labels, off at first
        count = driver.find_element(By.ID, "opt-num-speakers")
        assert driver.find_element(By.ID, "speakers-field").is_displayed() and not count.is_enabled()
    else:
        assert not driver.find_element(By.ID, "speakers-field").is_displayed()
    _shot(driver, "09-advanced")

    _upload(driver, film)
    _until(driver, lambda d: _status(d, film.name) == "succeeded", 240)
    job_id = _job_row(driver, film.name).get_attribute("data-job")
    job = requests.get(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30).json()
    assert (job["audio_track"], job["audio_track_used"], job["channels"]) == ("en", "1 (eng)", "split")

    # The job view says which track was heard and how the channels went; the transcript labels
    # each change of speaker once.
    _job_row(driver, film.name).find_element(By.CSS_SELECTOR, "a.open").click()
    _until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments .word")) > 10, 30)
    details = driver.find_element(By.ID, "t-details")
    shown = dict(
        zip(
            [t.text for t in details.find_elements(By.TAG_NAME, "dt")],
            [d.text for d in details.find_elements(By.TAG_NAME, "dd")],
            strict=True,
        )
    )
    assert shown["Audio track"] == "1 (eng)" and shown["Channels"].startswith("split"), shown
    assert shown["Languages"].startswith("English"), shown
    items = driver.find_elements(By.CSS_SELECTOR, "#segments li")
    speakers = [i.get_attribute("data-speaker") for i in items]
    assert set(speakers) == {"channel 1", "channel 2"}, speakers
    changes = [i for n, i in enumerate(items) if n == 0 or speakers[n] != speakers[n - 1]]
    labels = driver.find_elements(By.CSS_SELECTOR, "#segments .speaker")
    assert [label.text for label in labels] == [
        f"Channel {s[-1]}" for s in (c.get_attribute("data-speaker") for c in changes)
    ]
    assert all(c.find_elements(By.CSS_SELECTOR, ".speaker") for c in changes)
    _shot(driver, "10-speakers")
    shutil.copytree(driver.shots, web.tmp / "screenshots", dirs_exist_ok=True)


def test_speakers_by_voice_asked_through_the_form_reach_the_job(web, browser, tmp_path):
    from selenium.webdriver.common.by import By

    if not voices.available():
        pytest.skip(f"needs the diarize extra ({voices.INSTALL_HINT})")
    driver = browser
    _sign_in(driver, web)
    driver.find_element(By.CSS_SELECTOR, "#advanced summary").click()
    driver.find_element(By.ID, "opt-speakers").click()
    count = driver.find_element(By.ID, "opt-num-speakers")
    assert count.is_enabled()
    count.send_keys("2")
    clip = tmp_path / "voices.mp4"  # a name of its own: the other tests find their jobs by name
    shutil.copyfile(SAMPLE_VIDEO, clip)
    _upload(driver, clip)
    _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li a[href^='#/jobs/']"), 60)
    job_id = driver.find_element(By.CSS_SELECTOR, "#uploads li a").get_attribute("href").rsplit("/", 1)[1]
    job = requests.get(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30).json()
    assert job["speakers"]["num"] == 2, job
    # What the job does with them is the stack tests'; this one stops here.
    requests.delete(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30)


def test_upload_follow_read_search_download_cancel_and_fail(web, browser, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(web.api + "/")
    # A wrong key: a clear message, and still the sign-in form.
    driver.find_element(By.ID, "key").send_keys("ksk_not-a-key")
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    message = _until(driver, lambda d: d.find_element(By.ID, "signin-error").text)
    assert "API key was not accepted" in message
    _shot(driver, "01-wrong-key")

    key = driver.find_element(By.ID, "key")
    key.clear()
    key.send_keys(web.acme.token)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _until(driver, lambda d: d.find_element(By.ID, "home").is_displayed())
    assert driver.execute_script("return sessionStorage.getItem('kscribe.key')") == web.acme.token
    assert driver.get_cookies() == []
    _shot(driver, "02-signed-in")

    # Upload the sample: progress with bytes and rate, then its one job, followed to done.
    started = time.monotonic()
    _upload(driver, SAMPLE_VIDEO)
    _until(driver, lambda d: "uploaded in" in d.find_element(By.CSS_SELECTOR, "#uploads li .muted").text)
    _shot(driver, "03-uploaded")
    upload_id = driver.find_element(By.CSS_SELECTOR, "#uploads li").get_attribute("data-upload")
    _until(driver, lambda d: _status(d, "meeting.mp4") not in (None, "queued"), 60)
    _shot(driver, "04-processing")
    _until(driver, lambda d: _status(d, "meeting.mp4") == "succeeded", 240)
    upload_to_done = time.monotonic() - started
    (driver.shots / "timing.json").write_text(json.dumps({"upload_to_transcript_s": round(upload_to_done, 2)}))
    print(f"upload to transcript: {upload_to_done:.1f} s")
    row = _job_row(driver, "meeting.mp4")
    assert row.find_element(By.CSS_SELECTOR, "progress").get_attribute("value") == "100"
    assert "transcribe" in row.find_element(By.CSS_SELECTOR, ".timings").text
    job_id = row.get_attribute("data-job")

    # Exactly one job for the upload, the tenant's, made by ingest from the object.
    upload = requests.get(f"{web.api}{UPLOADS}/{upload_id}", headers=web.acme.auth, timeout=30).json()
    assert upload["job"]["id"] == job_id
    sources = [
        web.stack.redis.hget(k, "source_uri") for k in web.stack.redis.scan_iter("kscribe:job:*") if k.count(":") == 2
    ]
    assert sources.count(upload["job"]["source"]) == 1
    assert upload["job"]["source"].startswith(f"gs://kscribe-input/tenants/acme/web/{upload_id}/")

    # The transcript against the video.
    row.find_element(By.CSS_SELECTOR, "a.open").click()
    _until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments .word")) > 20, 30)
    _until(driver, lambda d: d.execute_script("return document.getElementById('video').readyState") >= 1, 30)
    meta = driver.find_element(By.ID, "t-meta").text
    assert "Language: English" in meta and "Duration: 30.8 s" in meta
    assert driver.execute_script("return document.querySelector('#video track').kind") == "captions"
    words = driver.find_elements(By.CSS_SELECTOR, "#segments .word")
    word = words[len(words) // 2]
    start = float(word.get_attribute("data-start"))
    word.click()
    _until(
        driver, lambda d: abs(d.execute_script("return document.getElementById('video').currentTime") - start) <= 0.3
    )
    current = driver.find_element(By.CSS_SELECTOR, "#segments li.current")
    assert word.text in current.text

    search = driver.find_element(By.ID, "search")
    search.send_keys("tomatoes")
    _until(driver, lambda d: d.find_element(By.ID, "search-count").text.startswith("1 of"))
    assert all("tomatoes" in m.text.lower() for m in driver.find_elements(By.CSS_SELECTOR, ".word.match"))
    _shot(driver, "05-transcript")

    driver.find_element(By.CSS_SELECTOR, "#downloads button[data-format='srt']").click()
    srt = _until(driver, lambda d: [p for p in d.downloads.glob("*.srt")], 30)[0]
    job = requests.get(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30).json()
    bucket, name = job["outputs"]["srt"][5:].split("/", 1)
    stored = web.stack.storage().bucket(bucket).blob(name).download_as_bytes()
    assert srt.name == "meeting.srt"
    assert _until(driver, lambda d: srt.read_bytes() == stored and srt.read_bytes(), 10)

    driver.set_window_size(390, 844)  # a phone
    _shot(driver, "06-transcript-phone")
    driver.set_window_size(1280, 900)

    # A second, longer job cancelled from the list; a text file renamed .mp4 fails with its reason.
    driver.find_element(By.CSS_SELECTOR, "a[href='#/']").click()
    long = tmp_path / "long-meeting.mp4"
    subprocess.run(
        [
            ffmpeg_executable(),
            "-loglevel",
            "error",
            "-stream_loop",
            "5",
            "-i",
            str(SAMPLE_VIDEO),
            "-c",
            "copy",
            str(long),
        ],
        check=True,
    )
    _upload(driver, long)
    _until(driver, lambda d: _status(d, "long-meeting.mp4") in ("queued", "extracting", "transcribing"), 60)
    _job_row(driver, "long-meeting.mp4").find_element(By.CSS_SELECTOR, "button.cancel").click()
    _until(driver, lambda d: _status(d, "long-meeting.mp4") == "cancelled", 30)

    notes = tmp_path / "notes.mp4"
    notes.write_text("Minutes of the meeting: nothing to hear here.\n" * 20)
    _upload(driver, notes)
    _until(driver, lambda d: _status(d, "notes.mp4") == "failed", 120)
    reason = _job_row(driver, "notes.mp4").find_element(By.CSS_SELECTOR, ".reason").text
    assert reason.startswith("Failed at extract") and ("media" in reason or "audio" in reason), reason
    driver.set_window_size(1280, 1400)
    driver.execute_script("document.getElementById('jobs-title').scrollIntoView()")
    _shot(driver, "07-jobs")

    # Filtering by status.
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "filter")).select_by_value("failed")
    _until(
        driver,
        lambda d: (
            [r.find_element(By.CSS_SELECTOR, ".name").text for r in d.find_elements(By.CSS_SELECTOR, "#jobs li.job")]
            == ["notes.mp4"]
        ),
    )
    _shot(driver, "08-filtered")
    shutil.copytree(driver.shots, web.tmp / "screenshots", dirs_exist_ok=True)


# Every text the live view's stage line and bar show, recorded as the page changes them (a
# MutationObserver sees each change; polling from here could miss a short-lived one).
_RECORD_LIVE = """
window.seen = {stages: [], bars: [], text: []};
const stage = document.getElementById('live-stage'), bar = document.getElementById('live-bar');
new MutationObserver(() => window.seen.stages.push(stage.textContent)).observe(stage, {childList: true, characterData: true, subtree: true});
new MutationObserver(() => window.seen.bars.push(bar.value)).observe(bar, {attributes: true, attributeFilter: ['value']});
new MutationObserver(() => window.seen.text.push(document.getElementById('live-text').textContent))
  .observe(document.getElementById('live-text'), {childList: true, subtree: true});
"""


def test_choose_set_transcribe_follow_read_and_name_speakers(web, browser, tmp_path):
    """The newcomer's flow: files are chosen (and one removed) with nothing sent, an option is
    set, Transcribe starts the job, its page shows progress until the transcript replaces it,
    and the speakers get names that the page, the record and the downloads keep."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.integration.test_channels import interview

    clip, _ = interview(tmp_path / "two-voices.wav")  # one voice per channel (skips without espeak-ng)
    spare = tmp_path / "spare.mp4"
    shutil.copyfile(SAMPLE_VIDEO, spare)
    driver = browser
    _sign_in(driver, web)
    button = driver.find_element(By.ID, "transcribe")
    assert not button.is_enabled()

    # Choosing lists the files; nothing goes out until Transcribe.
    driver.find_element(By.ID, "files").send_keys(str(clip))
    driver.find_element(By.ID, "files").send_keys(str(spare))
    chosen = _until(
        driver,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#chosen li")) == 2 and d.find_elements(By.CSS_SELECTOR, "#chosen li")
        ),
    )
    assert button.is_enabled() and button.text == "Transcribe 2 files"
    assert "press Transcribe" in driver.find_element(By.ID, "chosen-summary").text
    chosen[1].find_element(By.CSS_SELECTOR, "button.remove").click()
    _until(
        driver,
        lambda d: (
            [li.get_attribute("data-file") for li in d.find_elements(By.CSS_SELECTOR, "#chosen li")] == [clip.name]
        ),
    )
    assert driver.find_elements(By.CSS_SELECTOR, "#uploads li") == []
    listed = requests.get(f"{web.api}{BASE}?limit=100", headers=web.acme.auth, timeout=30).json()["items"]
    assert not [j for j in listed if j["source"].endswith(clip.name)], "a job started before Transcribe"

    # An option, then Transcribe: the list empties, the upload goes, its job is made with it.
    driver.find_element(By.CSS_SELECTOR, "#advanced summary").click()
    Select(driver.find_element(By.ID, "opt-channels")).select_by_value("split")
    _shot(driver, "11-chosen")
    button.click()
    _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#chosen li") == [])
    assert not button.is_enabled()
    driver.execute_script(_RECORD_LIVE)
    link = _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li a[href^='#/jobs/']"), 120)[0]
    job_id = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()  # followed from the moment it exists

    # The job's page: its progress while it runs, then the transcript in its place.
    _until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments .word")) > 5, 240)
    seen = driver.execute_script("return window.seen")
    print("live view:", seen)
    assert seen["stages"] and all("%" in stage for stage in seen["stages"]), seen
    assert seen["bars"] == sorted(seen["bars"]) and seen["bars"][0] < 95, seen
    assert not driver.find_element(By.ID, "live").is_displayed()
    job = requests.get(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30).json()
    assert (job["status"], job["channels"], job["origin"]) == ("succeeded", "split", "upload"), job
    # Text shown while it ran was the job's own words.
    words = {w.text.strip(".,!?").lower() for w in driver.find_elements(By.CSS_SELECTOR, "#segments .word")}
    for shown in filter(None, seen["text"]):  # "" once the transcript took its place
        assert words & set(shown.lower().replace(".", " ").replace(",", " ").split()), shown

    # Name a speaker: the labels change on the page, the name is stored, downloads use it.
    form = driver.find_element(By.ID, "speakers")
    assert form.is_displayed()
    fields = form.find_elements(By.CSS_SELECTOR, "input[data-label]")
    assert [f.get_attribute("data-label") for f in fields] == ["channel 1", "channel 2"]
    fields[0].send_keys("Alice")
    driver.find_element(By.ID, "speakers-save").click()
    _until(driver, lambda d: d.find_element(By.ID, "speakers-status").text.startswith("Saved"))
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#segments .speaker")]
    assert "Alice" in labels and "Channel 2" in labels and "Channel 1" not in labels, labels
    _shot(driver, "12-speakers-named")
    job = requests.get(f"{web.api}{BASE}/{job_id}", headers=web.acme.auth, timeout=30).json()
    assert job["speaker_names"] == {"channel 1": "Alice"}
    assert requests.get(f"{web.api}{BASE}/{job_id}", headers=web.globex.auth, timeout=30).status_code == 404
    driver.find_element(By.CSS_SELECTOR, "#downloads button[data-format='srt']").click()
    srt = _until(driver, lambda d: [p for p in d.downloads.glob("two-voices*.srt")], 30)[0]
    text = _until(driver, lambda d: srt.read_text(), 10)
    assert "[Alice]" in text and "[channel 1]" not in text and "[channel 2]" in text, text

    # A fresh page keeps the names.
    driver.refresh()
    _until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments .speaker")) > 1, 30)
    assert "Alice" in [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#segments .speaker")]
    assert driver.find_element(By.CSS_SELECTOR, "input[data-label='channel 1']").get_attribute("value") == "Alice"

    # The jobs list tells the job apart: model, task, where it came from, its short id.
    driver.find_element(By.CSS_SELECTOR, "a[href='#/']").click()
    row = _until(driver, lambda d: _job_row(d, clip.name))
    about = row.find_element(By.CSS_SELECTOR, ".about").text
    for part in (job["model"], "transcribe", "uploaded here", f"id {job_id[:8]}"):
        assert part in about, about
    _shot(driver, "13-jobs-told-apart")
    shutil.copytree(driver.shots, web.tmp / "screenshots", dirs_exist_ok=True)


def test_every_page_has_strict_security_headers(web):
    for path in ("/", "/web/app.js", "/web/style.css", BASE, "/health/live", "/nope"):
        r = requests.get(web.api + path, timeout=30)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "Set-Cookie" not in r.headers
    page = requests.get(web.api + "/", timeout=30)
    assert page.headers["Content-Type"].startswith("text/html") and '<script type="module" src=' in page.text
    assert (
        "<script>" not in page.text
        and " style=" not in page.text
        and " on" not in page.text.split("<body>")[1].split("=")[0]
    )
    assert requests.get(web.api + "/web/../api.py", timeout=30).status_code == 404


def _upload_via_api(web, tenant, data: bytes, name="clip.mp4"):
    r = requests.post(
        web.api + UPLOADS,
        json={"filename": name, "size": len(data), "content_type": "video/mp4", "formats": ["srt", "vtt"]},
        headers=tenant.auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["mode"] == "api" and session["upload_url"] == f"{UPLOADS}/{session['id']}/content"
    return session


def test_uploads_and_media_keep_to_their_tenant_and_make_one_job(web):
    data = SAMPLE_VIDEO.read_bytes()
    session = _upload_via_api(web, web.acme, data, "../../globex/evil.mp4")
    url = web.api + session["upload_url"]
    # Another tenant can neither see nor fill acme's upload.
    assert requests.get(f"{web.api}{UPLOADS}/{session['id']}", headers=web.globex.auth, timeout=30).status_code == 404
    assert requests.put(url, data=data, headers=web.globex.auth, timeout=30).status_code == 404
    assert (
        requests.put(url, data=data[:100], headers=web.acme.auth, timeout=30).status_code == 400
    )  # not the size announced
    r = requests.put(url, data=data, headers=web.acme.auth, timeout=60)
    assert r.status_code == 200, r.text
    assert requests.put(url, data=data, headers=web.acme.auth, timeout=30).status_code == 409  # never twice

    def job():
        return requests.get(f"{web.api}{UPLOADS}/{session['id']}", headers=web.acme.auth, timeout=30).json()["job"]

    first = wait_for(job, timeout_s=60)
    # The object sits in acme's own prefix whatever the name said, and only ingest made its job.
    assert first["source"] == f"gs://kscribe-input/tenants/acme/web/{session['id']}/evil.mp4"
    assert first["formats"] == ["srt", "vtt"]
    again = requests.post(web.api + BASE, json={"source": first["source"]}, headers=web.acme.auth, timeout=30)
    assert again.status_code == 409 and again.json()["error"]["code"] == "upload_has_job"

    # A media token: only for the tenant's own job, bound to that job, ranges served.
    assert requests.post(f"{web.api}{BASE}/{first['id']}/media", headers=web.globex.auth, timeout=30).status_code == 404
    token = requests.post(f"{web.api}{BASE}/{first['id']}/media", headers=web.acme.auth, timeout=30).json()
    assert token["expires_in"] <= 900
    media = requests.get(web.api + token["url"], headers={"Range": "bytes=0-99"}, timeout=30)
    assert media.status_code == 206 and media.content == data[:100]
    assert media.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    whole = requests.get(web.api + token["url"], timeout=30)
    assert whole.status_code == 200 and whole.content == data
    assert requests.get(web.api + token["url"] + "x", timeout=30).status_code == 404
    assert requests.get(web.api + "/media/" + "A" * 43, timeout=30).status_code == 404
    assert requests.get(web.api + token["url"], headers={"Range": "bytes=999999999-"}, timeout=30).status_code == 416


def test_page_files_are_packaged():
    packaged = ROOT / "kscribe" / "web"
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in packaged.iterdir()}
    text = (ROOT / "pyproject.toml").read_text()
    assert '"web/*.js"' in text
