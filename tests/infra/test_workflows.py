""".github/workflows: actionlint-clean; every step calls make targets and scripts that exist;
no long-lived key, no pull_request_target; third-party actions pinned to full commit SHAs;
and the deploy's shape (ci → images → deploy, production behind its environment)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.y*ml"))
MAKE_TARGETS = set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.M))
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def load(path):
    # PyYAML reads the key `on` as True: take it back.
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(doc):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def test_the_three_workflows_exist():
    assert {p.name for p in FILES} == {"ci.yml", "images.yml", "deploy.yml"}


def test_every_workflow_passes_actionlint():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "actionlint.py")], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if done.returncode == 2:
        pytest.skip(f"no actionlint here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_what_is_wrong(tmp_path):
    """The linter really runs: a workflow with an unknown context and a bad input fails."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ nonsense.value }}\n"
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "actionlint.py"), str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode == 2:
        pytest.skip("no actionlint here")
    assert done.returncode == 1 and 'undefined variable "nonsense"' in done.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_steps_call_make_targets_and_scripts_that_exist(path):
    doc = load(path)
    for job_id, step in steps(doc):
        run = step.get("run", "")
        for target in re.findall(r"\bmake\s+(?:-\S+\s+)*([A-Za-z0-9_.-]+)", run):
            assert target in MAKE_TARGETS, f"{path.name}/{job_id}: make {target} is not in the Makefile"
        for script in re.findall(r"(?<![\w/.-])(scripts/[\w./-]+)", run):
            file = ROOT / script
            assert file.is_file(), f"{path.name}/{job_id}: {script} does not exist"
            assert os.access(file, os.X_OK) or ".venv/bin/python " + script in run, f"{script} is not executable"
    for job_id, job in doc["jobs"].items():
        if uses := job.get("uses"):
            assert uses.startswith("./") and (ROOT / uses).is_file(), f"{path.name}/{job_id}: {uses}"


def test_make_lint_runs_actionlint():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lint: lint-workflows$", makefile, re.M)
    assert re.search(r"^lint-workflows:.*\n\t.*scripts/actionlint\.py", makefile, re.M)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_to_a_full_commit_sha(path):
    text = path.read_text()
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", text, re.M)
    assert uses
    for ref, rest in uses:
        ref = ref.strip("'\"")
        if ref.startswith("./"):
            continue
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a 40-hex commit SHA"
        assert re.match(r"\s*#\s*v\d+(\.\d+)*", rest), f"{path.name}: {ref} has no `# vX.Y.Z` comment naming the SHA"


def test_one_sha_per_action_across_workflows():
    seen: dict[str, set[str]] = {}
    for path in FILES:
        for action, sha in re.findall(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})", path.read_text()):
            seen.setdefault(action, set()).add(sha)
    assert all(len(shas) == 1 for shas in seen.values()), seen


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_long_lived_keys_and_no_pull_request_target(path):
    text = path.read_text()
    for forbidden in (
        "credentials_json",
        "service_account_key",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "activate-service-account",
        "private_key",
        "BEGIN PRIVATE KEY",
        "key.json",
    ):
        assert forbidden not in text, f"{path.name}: {forbidden}"
    doc = load(path)
    triggers = doc["on"] if isinstance(doc["on"], (dict, list)) else [doc["on"]]
    assert "pull_request_target" not in triggers, f"{path.name}: pull_request_target runs with secrets on forks' code"
    assert "workflow_run" not in triggers
    for job_id, step in steps(doc):
        if step.get("uses", "").startswith("google-github-actions/auth@"):
            assert set(step["with"]) >= {"workload_identity_provider", "service_account"}, f"{job_id}: WIF only"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege_tokens(path):
    doc = load(path)
    assert doc["permissions"] == {"contents": "read"}, f"{path.name}: the default token reads, no more"
    for job_id, job in doc["jobs"].items():
        authenticates = any(
            s.get("uses", "").startswith(("google-github-actions/auth@", "sigstore/"))
            for _, s in steps({"jobs": {job_id: job}})
        )
        wants_oidc = (job.get("permissions") or {}).get("id-token") == "write"
        if authenticates:
            assert wants_oidc, f"{path.name}/{job_id} authenticates without an OIDC token"
        elif "uses" not in job:  # a called workflow's jobs set their own
            assert not wants_oidc, f"{path.name}/{job_id} asks for an OIDC token it does not use"
    for job_id, step in steps(doc):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}/{job_id}"


def test_ci_runs_the_quality_gates_and_keeps_the_test_report():
    doc = load(WORKFLOWS / "ci.yml")
    assert set(doc["on"]) == {"pull_request", "push", "workflow_call"}
    runs = [s.get("run", "") for _, s in steps(doc)]
    assert "make lint" in runs and "make check-infra" in runs
    assert "terraform fmt -check -recursive terraform" in runs
    assert any(r.startswith("make test ") and "--junitxml=reports/junit.xml" in r for r in runs)
    uploads = [s for _, s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "reports/junit.xml"
    pythons = [s for _, s in steps(doc) if s.get("uses", "").startswith("actions/setup-python@")]
    assert pythons and all(s["with"].get("cache") == "pip" for s in pythons)


def test_images_are_built_scanned_pushed_by_digest_and_signed():
    doc = load(WORKFLOWS / "images.yml")
    job = doc["jobs"]["image"]
    files = {m["file"] for m in job["strategy"]["matrix"]["include"]}
    assert files == {"containers/Containerfile", "containers/Containerfile.gpu"}
    by_action = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    assert "docker/setup-buildx-action" in by_action
    trivy = by_action["aquasecurity/trivy-action"]["with"]
    assert trivy["severity"] == "HIGH,CRITICAL" and trivy["ignore-unfixed"] is True and trivy["exit-code"] == "1"
    order = [s.get("uses", s.get("run", "")).split("@")[0] for s in job["steps"]]
    assert order.index("aquasecurity/trivy-action") < order.index(next(o for o in order if "push-image.sh" in o)), (
        "nothing is pushed before it is scanned"
    )
    push = ROOT / "scripts" / "ci" / "push-image.sh"
    text = push.read_text()
    assert "GITHUB_SHA" in text and "GITHUB_REF_NAME" in text and "sign-image.sh" in text
    sign = (ROOT / "scripts" / "ci" / "sign-image.sh").read_text()
    assert 'cosign sign --yes --key "$COSIGN_KEY"' in sign and "binauthz attestations sign-and-create" in sign
    for step in job["steps"]:  # pull requests push nothing
        if "push-image.sh" in step.get("run", "") or step.get("uses", "").startswith("google-github-actions/auth@"):
            assert step["if"] == "env.PUSH == 'true'"
    assert job["env"]["PUSH"] == "${{ github.event_name != 'pull_request' }}"


def test_deploy_main_to_staging_tags_to_production_through_ci_and_images():
    doc = load(WORKFLOWS / "deploy.yml")
    assert doc["on"] == {"push": {"branches": ["main"], "tags": ["v*"]}}
    jobs = doc["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["images"]["needs"] == "ci" and jobs["images"]["uses"] == "./.github/workflows/images.yml"
    assert jobs["promote"]["needs"] == "ci"
    deploy = jobs["deploy"]
    assert deploy["needs"] == ["images", "promote"]
    assert deploy["environment"]["name"] == "${{ github.ref_type == 'tag' && 'production' || 'staging' }}"
    assert doc["concurrency"]["cancel-in-progress"] is False
    runs = " ".join(s.get("run", "") for s in deploy["steps"])
    assert "scripts/rollout.py" in runs and "deploy --digests" in runs and "scripts/smoke.py" in runs
    rollback = [s for s in deploy["steps"] if "rollback" in s.get("run", "")]
    assert rollback and rollback[0]["if"] == "failure() || cancelled()"


def test_restore_generated_refuses_placeholders_and_installs_an_installations_values(tmp_path):
    import base64
    import io
    import tarfile

    def archive(files):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return base64.b64encode(buf.getvalue()).decode()

    script = ROOT / "scripts" / "ci" / "restore-generated.sh"
    target = tmp_path / "generated"
    target.mkdir()
    (target / "stale.yaml").write_text("x")
    placeholders = {p.name: p.read_text() for p in (ROOT / "knative/overlays/gke/generated").iterdir()}
    refused = subprocess.run(
        [str(script), str(target)],
        env={**os.environ, "KSCRIBE_GENERATED": archive(placeholders)},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "placeholders" in refused.stderr
    real = {
        k: v.replace("PROJECT", "my-kscribe-staging").replace("REGION", "europe-west4") for k, v in placeholders.items()
    }
    done = subprocess.run(
        [str(script), str(target)],
        env={**os.environ, "KSCRIBE_GENERATED": archive(real)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == sorted(real)
    assert "my-kscribe-staging" in (target / "kustomization.yaml").read_text()
    empty = subprocess.run(
        [str(script), str(target)], env={**os.environ, "KSCRIBE_GENERATED": ""}, capture_output=True, text=True
    )
    assert empty.returncode == 1


def test_push_image_tags_with_the_sha_and_the_version_records_the_digest_and_signs(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    repo = "europe-west4-docker.pkg.dev/p/kscribe/kscribe-gpu"
    digest = "sha256:" + "c" * 64
    for tool, out in (("docker", f"{repo}@{digest}"), ("cosign", ""), ("gcloud", "")):
        fake = bin_dir / tool
        fake.write_text(
            # `docker login --password-stdin` reads the token: so does the fake, or the script's
            # printf may write into a closed pipe (SIGPIPE, exit 141 under pipefail).
            f'#!/bin/sh\necho {tool} "$@" >> {calls}\n'
            + ('[ "$1" = login ] && cat > /dev/null\n' if tool == "docker" else "")
            + (f'[ "$1" = inspect ] && echo {out}\n' if out else "")
            + "exit 0\n"
        )
        fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": "v1.2.3",
        "REGISTRY_TOKEN": "short-lived",
        "COSIGN_KEY": "gcpkms://projects/p/locations/l/keyRings/kscribe-signing/cryptoKeys/image-signing",
        "BINAUTHZ_ATTESTOR": "projects/p/attestors/kscribe-ci",
        "BINAUTHZ_KEYVERSION": "projects/p/locations/l/keyRings/kscribe-signing/cryptoKeys/image-signing/cryptoKeyVersions/1",
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run(
        [str(ROOT / "scripts" / "ci" / "push-image.sh"), "local/kscribe-gpu:x", repo, str(tmp_path / "digests")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "docker login --username oauth2accesstoken --password-stdin europe-west4-docker.pkg.dev"
    assert f"docker push {repo}:{'f' * 40}" in lines and f"docker push {repo}:v1.2.3" in lines
    key = env["COSIGN_KEY"]
    assert lines[-2] == f"cosign sign --yes --key {key} {repo}@{digest}"
    assert lines[-1] == (
        f"gcloud container binauthz attestations sign-and-create --artifact-url={repo}@{digest}"
        f" --attestor={env['BINAUTHZ_ATTESTOR']} --keyversion={env['BINAUTHZ_KEYVERSION']}"
    )
    assert (tmp_path / "digests" / "kscribe-gpu").read_text() == f"{repo}@{digest}\n"


def test_the_deploy_reads_the_generated_component_terraform_wrote_to_secret_manager(tmp_path):
    import json

    from tests.infra.test_terraform import resources

    # Terraform writes every generated file into one secret the deployer alone may read.
    version = resources("google_secret_manager_secret_version")["generated"]
    assert version["secret"] == "${google_secret_manager_secret.generated.id}"
    for source in ("local_file.kustomize_component.content", "local_file.config_env.content", "local_file.api_domain"):
        assert source in version["secret_data"]
    readers = resources("google_secret_manager_secret_iam_member")
    deployer = "serviceAccount:${google_service_account.deployer[0].email}"
    assert [n for n, b in readers.items() if b["member"] == deployer] == ["deployer_reads_generated"]
    assert readers["deployer_reads_generated"]["secret_id"] == "${google_secret_manager_secret.generated.id}"
    # The deploy fetches it (no hand-copied secret needed) and restores it.
    deploy = load(WORKFLOWS / "deploy.yml")["jobs"]["deploy"]
    step = next(s for s in deploy["steps"] if "restore-generated.sh" in s.get("run", ""))
    assert step["env"]["GENERATED_SECRET"] == "${{ vars.GENERATED_SECRET }}"
    assert 'gcloud secrets versions access latest --secret "$GENERATED_SECRET"' in step["run"]
    # The script takes the secret's JSON, refuses placeholders and paths outside the component.
    script = ROOT / "scripts" / "ci" / "restore-generated.sh"
    target = tmp_path / "generated"
    target.mkdir()
    placeholders = {
        p.name: p.read_text() for p in (ROOT / "knative/overlays/gke/generated").iterdir() if p.name != "README.md"
    }

    def restore(files):
        env = {**os.environ, "KSCRIBE_GENERATED": json.dumps(files)}
        return subprocess.run([str(script), str(target)], env=env, capture_output=True, text=True)

    refused = restore(placeholders)
    assert refused.returncode == 1 and "placeholders" in refused.stderr
    real = {
        k: v.replace("PROJECT", "my-kscribe-prod").replace("REGION", "europe-west4") for k, v in placeholders.items()
    }
    assert restore({**real, "../escape.yaml": "x"}).returncode != 0 and not (tmp_path / "escape.yaml").exists()
    done = restore(real)
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_text() for p in target.iterdir()} == real
