"""Build once, promote by digest (.github/workflows/, scripts/ci/): images are built only by
images.yml, once per commit on main, into one registry; a v* tag builds nothing — production
deploys the very digests main's run built (its digest-* artifacts), copied into production's
registry with the digest checked, and signed for production's Binary Authorization policy."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT
from tests.infra.test_workflows import FILES, WORKFLOWS, load, steps

SCRIPTS = ROOT / "scripts" / "ci"
BUILD = re.compile(r"\b(docker\s+(buildx\s+)?build|buildah|podman\s+build|docker-build|make\s+image)\b")
SHA = "f" * 40
DIGEST = "sha256:" + "c" * 64
STAGING = "europe-west4-docker.pkg.dev/my-kscribe-staging/kscribe"
PROD = "europe-west4-docker.pkg.dev/my-kscribe-prod/kscribe"


def _builds(step: dict) -> bool:
    return step.get("uses", "").startswith("docker/build-push-action@") or bool(BUILD.search(step.get("run", "")))


def test_images_yml_builds_for_no_particular_environment_into_one_registry():
    doc = load(WORKFLOWS / "images.yml")
    assert not (doc["on"]["workflow_call"] or {}).get("inputs"), "one build per commit, not one per environment"
    text = (WORKFLOWS / "images.yml").read_text()
    assert "PRODUCTION_" not in text and "inputs.environment" not in text
    assert doc["jobs"]["image"]["env"]["REGISTRY"] == "${{ vars.STAGING_REGISTRY }}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_only_the_image_job_builds_and_deploy_calls_it_only_for_main(path):
    doc = load(path)
    for job_id, step in steps(doc):
        if _builds(step):
            assert (path.name, job_id) == ("images.yml", "image"), f"{path.name}/{job_id} builds an image"
    if path.name == "deploy.yml":
        callers = {j: job for j, job in doc["jobs"].items() if job.get("uses") == "./.github/workflows/images.yml"}
        assert list(callers) == ["images"] and callers["images"]["if"] == "github.ref_type == 'branch'", (
            "a tag must not build again"
        )


def test_production_deploys_the_digests_main_built():
    jobs = load(WORKFLOWS / "deploy.yml")["jobs"]
    promote = jobs["promote"]
    assert promote["if"] == "github.ref_type == 'tag'" and promote["needs"] == "ci"
    assert promote["permissions"] == {"contents": "read", "actions": "read", "id-token": "write"}
    runs = "\n".join(s.get("run", "") for s in promote["steps"])
    assert "scripts/ci/build-digests.sh .kscribe/build-digests" in runs
    assert re.search(
        r'promote-image\.sh\s*\\?\s*"\.kscribe/build-digests/\$image" "\$PRODUCTION_REGISTRY/\$image" \.kscribe/digests',
        runs,
    ), "each image's build digest is promoted into production's registry"
    uploads = [s for s in promote["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert (
        uploads
        and uploads[0]["with"]["name"].startswith("digest-")
        and uploads[0]["with"]["path"] == ".kscribe/digests/"
    )
    deploy = jobs["deploy"]
    assert deploy["needs"] == ["images", "promote"]
    assert "needs.images.result == 'success' || needs.promote.result == 'success'" in deploy["if"]
    assert "!cancelled()" in deploy["if"]
    downloads = [s for s in deploy["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert (
        downloads
        and downloads[0]["with"]["pattern"] == "digest-*"
        and downloads[0]["with"]["path"] == ".kscribe/digests"
    )
    rollout = next(
        s["run"] for s in deploy["steps"] if "scripts/rollout.py" in s.get("run", "") and "deploy" in s["run"]
    )
    assert "deploy --digests .kscribe/digests" in rollout and "--image" not in rollout
    # Main's run records what it built; the tag's run looks for a successful main run.
    script = (SCRIPTS / "build-digests.sh").read_text()
    assert "--branch main" in script and "--status success" in script and '--commit "$sha"' in script


def _fakes(tmp_path, tools: dict[str, str]):
    """Fake commands that log their arguments to tmp_path/calls and run the given shell body."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    for tool, body in tools.items():
        fake = bin_dir / tool
        fake.write_text(f'#!/bin/sh\necho {tool} "$@" >> {calls}\n{body}\nexit 0\n')
        fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": "my-org/kscribe",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": "v1.2.3",
        "COSIGN_KEY": "gcpkms://projects/p/locations/europe-west4/keyRings/kscribe-signing/cryptoKeys/image-signing",
        "BINAUTHZ_ATTESTOR": "projects/p/attestors/kscribe-ci",
        "BINAUTHZ_KEYVERSION": "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/image-signing/cryptoKeyVersions/1",
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env, calls


def _promote(tmp_path, record: str, registry_digest: str = DIGEST, verify_rc: int = 0, target=f"{PROD}/kscribe-gpu"):
    env, calls = _fakes(
        tmp_path,
        {
            "cosign": f'[ "$1" = verify ] && exit {verify_rc}',
            "gcloud": f'[ "$2" = docker ] && echo {registry_digest}',
        },
    )
    (tmp_path / "build").mkdir(exist_ok=True)
    (tmp_path / "build" / "kscribe-gpu").write_text(record + "\n")
    (tmp_path / "staging.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    env["SOURCE_PUBLIC_KEY"] = str(tmp_path / "staging.pub")
    done = subprocess.run(
        [str(SCRIPTS / "promote-image.sh"), str(tmp_path / "build" / "kscribe-gpu"), target, str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
    )
    return done, (calls.read_text().splitlines() if calls.exists() else [])


def test_promote_copies_the_build_digest_checks_it_and_signs_it_for_production(tmp_path):
    source = f"{STAGING}/kscribe-gpu@{DIGEST}"
    done, calls = _promote(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert calls[0] == f"cosign verify --key {tmp_path / 'staging.pub'} {source}", "the build's signature first"
    assert f"cosign copy --force {source} {PROD}/kscribe-gpu:{SHA}" in calls
    assert f"cosign copy --force {source} {PROD}/kscribe-gpu:v1.2.3" in calls
    assert not any(c.startswith(("docker", "buildah", "podman")) for c in calls), "nothing is rebuilt"
    target = f"{PROD}/kscribe-gpu@{DIGEST}"
    assert (tmp_path / "out" / "kscribe-gpu").read_text() == target + "\n", "production pins the build's digest"
    assert (
        calls[-2]
        == f"cosign sign --yes --key gcpkms://projects/p/locations/europe-west4/keyRings/kscribe-signing/cryptoKeys/image-signing {target}"
    )
    assert calls[-1].startswith("gcloud container binauthz attestations sign-and-create")
    assert f"--artifact-url={target}" in calls[-1] and "--attestor=projects/p/attestors/kscribe-ci" in calls[-1]


@pytest.mark.parametrize(
    "record, registry_digest, verify_rc, target, message",
    [
        (f"{STAGING}/kscribe-gpu:{SHA}", DIGEST, 0, f"{PROD}/kscribe-gpu", "sha256"),  # a tag, not a digest
        (f"{STAGING}/kscribe-gpu@{DIGEST}", "sha256:" + "d" * 64, 0, f"{PROD}/kscribe-gpu", "the build was"),
        (f"{STAGING}/kscribe-gpu@{DIGEST}", DIGEST, 1, f"{PROD}/kscribe-gpu", ""),  # unsigned build
        (f"{STAGING}/kscribe-gpu@{DIGEST}", DIGEST, 0, f"{PROD}/kscribe", "the target is kscribe"),
    ],
    ids=["tag-not-digest", "digest-changed-in-copy", "build-signature-fails", "wrong-image"],
)
def test_promote_refuses_anything_but_the_signed_build_digest(
    tmp_path, record, registry_digest, verify_rc, target, message
):
    done, calls = _promote(tmp_path, record, registry_digest, verify_rc, target)
    assert done.returncode != 0 and message in done.stderr
    assert not (tmp_path / "out" / "kscribe-gpu").exists(), "no digest is recorded for the deploy"
    assert not any(c.startswith("cosign sign") for c in calls), "nothing is signed for production"


def test_build_digests_takes_main_s_successful_run_and_fails_without_one(tmp_path):
    record = {i: f"{STAGING}/{i}@{DIGEST}" for i in ("kscribe", "kscribe-diarize", "kscribe-gpu")}
    body = "\n".join(
        [
            'if [ "$2" = list ]; then echo "$RUN"; fi',
            'if [ "$2" = download ]; then d=$(echo "$@" | sed "s/.*--dir //");',
            *[f'  mkdir -p "$d/digest-{i}"; echo {r} > "$d/digest-{i}/{i}";' for i, r in record.items()],
            "fi",
        ]
    )
    env, calls = _fakes(tmp_path, {"gh": body})
    found = subprocess.run(
        [str(SCRIPTS / "build-digests.sh"), str(tmp_path / "out")],
        env={**env, "RUN": "4242"},
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    assert {p.name: p.read_text().strip() for p in (tmp_path / "out").iterdir()} == record
    listed = calls.read_text().splitlines()[0]
    assert f"--branch main --commit {SHA} --status success" in listed
    assert "gh run download 4242" in calls.read_text()
    missing = subprocess.run(
        [str(SCRIPTS / "build-digests.sh"), str(tmp_path / "none")],
        env={**env, "RUN": ""},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no successful main run" in missing.stderr


def test_sign_image_signs_only_digests(tmp_path):
    env, calls = _fakes(tmp_path, {"cosign": "", "gcloud": ""})
    done = subprocess.run(
        [str(SCRIPTS / "sign-image.sh"), f"{PROD}/kscribe:v1.2.3"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and not calls.exists()
