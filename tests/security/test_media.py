"""Findings: ffmpeg read whatever the uploaded bytes told it to — an HLS playlist uploaded as
``.mp4`` made it read (and kscribe transcribe) files on the host; a WAV declaring 1 sample a
second made it resample hours of audio from a few bytes. A tenant's ``model`` could be any
directory on the host or any gs:// location kscribe can read."""

from __future__ import annotations

import pytest

from kscribe.asr.models import PACKAGED, _package_dirs
from tests.security.conftest import INPUT, wav_declaring

pytestmark = pytest.mark.model


def _failed_job(env, name: str, content: bytes) -> dict:
    env.storage().bucket("kscribe-input").blob(f"tenants/acme/{name}").upload_from_string(content)
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/{name}")
    assert r.status_code == 202, r.text
    job = env.wait_finished(env.acme, r.json()["id"], timeout_s=120)
    assert job["status"] == "failed", f"{name}: {job['status']}, outputs {job['outputs']}"
    assert job["error"]["message"] and "Traceback" not in job["error"]["message"], job["error"]
    assert job["failed_stage"] and job["error"]["stage"] == job["failed_stage"], job
    assert not job["outputs"], job["outputs"]
    return job


def test_an_hls_playlist_cannot_make_ffmpeg_read_host_files(env):
    host = env.media / "host.wav"
    playlist = (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\nfile://{host}\n#EXTINF:10.0,\n{host}\n#EXT-X-ENDLIST\n"
    )
    job = _failed_job(env, "evil.mp4", playlist.encode())
    assert job["chunks"]["total"] in (None, 0), "no audio of the host file was cut into chunks"


def test_a_wav_declaring_one_sample_a_second_fails_with_a_reason(env):
    job = _failed_job(env, "slow.wav", wav_declaring(rate=1, samples=60))
    message = job["error"]["message"].lower()
    assert "hz" in message or "rate" in message, job["error"]


def _installed_model_dir() -> str:
    dirs = _package_dirs(PACKAGED["tiny.en"])
    assert dirs and len(dirs) == 1 and (dirs[0] / "model.bin").is_file()
    return str(dirs[0])


@pytest.mark.parametrize(
    "model",
    [
        "/tmp",
        "/etc",
        "/",
        "../models",
        "~",
        "gs://kscribe-input/tenants/acme/model",
        "gs://kscribe-private/model",
        "installed-model-directory",
    ],
)
def test_a_tenants_model_is_an_installed_name_never_a_location(env, model):
    if model == "installed-model-directory":
        model = _installed_model_dir()  # a real CTranslate2 model, reached by its path on the host
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/tiny.wav", model=model)
    if r.status_code == 202:
        env.cancel(env.acme, r.json()["id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_model", f"{model}: {r.text}"
