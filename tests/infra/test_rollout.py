"""scripts/rollout.py against a fake `kubectl` on PATH that keeps Knative Services in a JSON file
and records every call: canary at 10 %, promotion, and the automatic rollback when the smoke
test fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ROLLOUT = ROOT / "scripts" / "rollout.py"
DIGEST = "sha256:" + "a" * 64
GPU_DIGEST = "sha256:" + "b" * 64
DIARIZE_DIGEST = "sha256:" + "c" * 64
REGISTRY = "europe-west4-docker.pkg.dev/p/kscribe"

FAKE_KUBECTL = r'''#!PYTHON
"""A fake kubectl: Knative Services in $FAKE_KUBECTL_STATE, every call appended to $FAKE_KUBECTL_LOG."""
import json, os, sys
import yaml

args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
state_path = os.environ["FAKE_KUBECTL_STATE"]
state = json.load(open(state_path))
ns = None
if args[:1] == ["-n"]:
    ns, args = args[1], args[2:]

def save():
    json.dump(state, open(state_path, "w"), indent=1)

def route(svc):
    status = svc["status"]
    traffic = svc["spec"].get("traffic") or [{"latestRevision": True, "percent": 100}]
    status["traffic"] = []
    for t in traffic:
        rev = t.get("revisionName") or status.get("latestReadyRevisionName")
        entry = {"revisionName": rev, "percent": t.get("percent", 0)}
        if t.get("tag"):
            entry["tag"] = t["tag"]
            entry["url"] = f"http://{t['tag']}-{svc['metadata']['name']}.{ns}.example.com"
        status["traffic"].append(entry)

if args[0] == "get" and args[1] == "ksvc":
    if len(args) > 2 and not args[2].startswith("-"):
        svc = state["ksvc"].get(args[2])
        if svc is None:
            sys.stderr.write(f'Error from server (NotFound): services.serving.knative.dev "{args[2]}" not found\n')
            sys.exit(1)
        print(json.dumps(svc))
    else:
        print(json.dumps({"items": list(state["ksvc"].values())}))
elif args[0] == "apply":
    for doc in yaml.safe_load_all(open(args[2])):
        if not doc or doc.get("kind") != "Service" or doc["apiVersion"] != "serving.knative.dev/v1":
            continue
        name = doc["metadata"]["name"]
        svc = state["ksvc"].setdefault(name, {"metadata": {"name": name, "generation": 0},
                                              "spec": {}, "status": {"observedGeneration": 0}})
        changed = svc["spec"].get("template") != doc["spec"]["template"]
        svc["spec"] = doc["spec"]
        svc["metadata"]["generation"] += 1
        svc["status"]["observedGeneration"] = svc["metadata"]["generation"]
        if changed:
            svc["status"]["revisions"] = svc["status"].get("revisions", 0) + 1
            new = f"{name}-{svc['status']['revisions']:05d}"
            svc["status"]["latestCreatedRevisionName"] = new
            if new not in state.get("broken", []):
                svc["status"]["latestReadyRevisionName"] = new
        route(svc)
    save()
elif args[0] == "wait":
    kind, name = args[1].split("/")
    if name in state.get("broken", []):
        sys.stderr.write(f"error: timed out waiting for the condition on revisions/{name}\n")
        sys.exit(1)
elif args[0] == "patch":
    svc = state["ksvc"][args[2]]
    svc["spec"]["traffic"] = json.loads(args[args.index("-p") + 1])["spec"]["traffic"]
    route(svc)
    save()
elif args[0] == "kustomize":
    sys.exit("the fake kubectl does not render")
'''


def ksvc(name: str, revision: int, image: str = f"{REGISTRY}/kscribe@sha256:{'0' * 64}") -> dict:
    return {
        "metadata": {"name": name, "generation": revision},
        "spec": {"template": {"spec": {"containers": [{"name": "function", "image": image}]}}},
        "status": {
            "observedGeneration": revision,
            "revisions": revision,
            "latestCreatedRevisionName": f"{name}-{revision:05d}",
            "latestReadyRevisionName": f"{name}-{revision:05d}",
            "url": f"http://{name}.kscribe.example.com",
        },
    }


def manifests(tmp: Path) -> Path:
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kscribe-config"}, "data": {}}]
    for name, image in (("api", "kscribe"), ("extract", "kscribe"), ("transcribe", "kscribe-gpu")):
        docs.append(
            {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "template": {"spec": {"containers": [{"name": "function", "image": f"{REGISTRY}/{image}:latest"}]}}
                },
            }
        )
    path = tmp / "rendered-in.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


@pytest.fixture
def cluster(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL.replace("PYTHON", sys.executable, 1))
    fake.chmod(0o755)
    state = tmp_path / "cluster.json"
    state.write_text(
        json.dumps(
            {"ksvc": {"api": ksvc("api", 3), "extract": ksvc("extract", 7), "transcribe": ksvc("transcribe", 2)}}
        )
    )
    log = tmp_path / "kubectl.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_KUBECTL_STATE": str(state),
        "FAKE_KUBECTL_LOG": str(log),
    }

    class Cluster:
        def run(self, *args: str, smoke: str = "true") -> subprocess.CompletedProcess:
            return subprocess.run(
                [
                    sys.executable,
                    str(ROLLOUT),
                    "--state",
                    str(tmp_path / "rollout" / "state.json"),
                    *args[:1],
                    *(
                        [
                            "--rendered",
                            str(manifests(tmp_path)),
                            "--image",
                            f"kscribe={REGISTRY}/kscribe@{DIGEST}",
                            "--image",
                            f"kscribe-gpu={REGISTRY}/kscribe-gpu@{GPU_DIGEST}",
                            "--smoke",
                            smoke,
                            "--timeout",
                            "5",
                        ]
                        if args[0] == "deploy"
                        else []
                    ),
                    *args[1:],
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        def calls(self) -> list[list[str]]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        def patches(self) -> list[tuple[str, list[dict]]]:
            return [
                (c[4], json.loads(c[c.index("-p") + 1])["spec"]["traffic"]) for c in self.calls() if c[2] == "patch"
            ]

        def ksvc(self, name: str) -> dict:
            return json.loads(state.read_text())["ksvc"][name]

        def set(self, **values) -> None:
            s = json.loads(state.read_text())
            s.update(values)
            state.write_text(json.dumps(s))

    c = Cluster()
    c.tmp = tmp_path
    return c


def test_canary_then_promotion_when_the_smoke_test_passes(cluster):
    # The smoke command sees the api's canary URL and the canary split in place.
    log = cluster.tmp / "smoke.log"
    smoke = (
        f'echo "$KSCRIBE_CANARY_API_URL" $(grep -o \'"percent": [0-9]*\' {cluster.tmp / "cluster.json"} '
        f"| sort -u | tr -d '\"' | tr '\\n' ' ') >> {log}"
    )
    done = cluster.run("deploy", smoke=smoke)
    assert done.returncode == 0, done.stdout + done.stderr
    applied = [c for c in cluster.calls() if c[2] == "apply"]
    assert len(applied) == 1
    rendered = list(yaml.safe_load_all((cluster.tmp / "rollout" / "rendered.yaml").read_text()))
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in rendered[1:]}
    assert images == {
        "api": f"{REGISTRY}/kscribe@{DIGEST}",
        "extract": f"{REGISTRY}/kscribe@{DIGEST}",
        "transcribe": f"{REGISTRY}/kscribe-gpu@{GPU_DIGEST}",
    }
    # Applied with everything still on the previous revision: nothing moves before Ready.
    assert rendered[1]["spec"]["traffic"] == [
        {"revisionName": "api-00003", "percent": 100},
        {"latestRevision": True, "percent": 0, "tag": "canary"},
    ]
    assert ["-n", "kscribe", "wait", "revision/api-00004", "--for=condition=Ready", "--timeout=5s"] in cluster.calls()
    patches = cluster.patches()
    assert (
        "api",
        [
            {"revisionName": "api-00003", "percent": 90, "tag": "previous"},
            {"revisionName": "api-00004", "percent": 10, "tag": "canary"},
        ],
    ) in patches
    assert patches[-3:] == [
        (
            n,
            [
                {"latestRevision": True, "percent": 100},
                {"revisionName": f"{n}-{r:05d}", "percent": 0, "tag": "previous"},
            ],
        )
        for n, r in (("api", 3), ("extract", 7), ("transcribe", 2))
    ]
    assert "rollout: deployed" in done.stdout and "::error" not in done.stdout
    # Twice: at the canary split (10 % / 90 % in place), then at 100 %.
    assert log.read_text().splitlines() == [
        "http://canary-api.kscribe.example.com percent: 10 percent: 90",
        "http://api.kscribe.example.com percent: 0 percent: 100",
    ]
    assert "smoke test at canary passed" in done.stdout and "smoke test at 100 % passed" in done.stdout


def test_a_failed_smoke_test_rolls_every_service_back_and_fails_loudly(cluster):
    done = cluster.run("deploy", smoke="echo smoke: FAILED: no transcript; exit 1")
    assert done.returncode == 1
    patches = cluster.patches()
    # The canary went out, then every Service went back to its previous revision.
    assert (
        "extract",
        [
            {"revisionName": "extract-00007", "percent": 90, "tag": "previous"},
            {"revisionName": "extract-00008", "percent": 10, "tag": "canary"},
        ],
    ) in patches
    assert patches[-3:] == [
        (
            n,
            [
                {"revisionName": f"{n}-{r:05d}", "percent": 100, "tag": "previous"},
                {"revisionName": f"{n}-{r + 1:05d}", "percent": 0, "tag": "failed"},
            ],
        )
        for n, r in (("api", 3), ("extract", 7), ("transcribe", 2))
    ]
    assert not any(t.get("latestRevision") and t["percent"] == 100 for _, ts in patches for t in ts), "never promoted"
    assert "::error title=kscribe rollout::deploy failed: the smoke test at canary failed (exit 1)" in done.stdout
    assert "::error title=kscribe rollout::rolled back api, extract, transcribe" in done.stdout
    assert [t["percent"] for t in cluster.ksvc("api")["status"]["traffic"]] == [100, 0]
    state = json.loads((cluster.tmp / "rollout" / "state.json").read_text())
    assert state["rolled_back"] is True and "promoted" not in state
    # CI's safety net (`rollback --state`) after that sees it done.
    again = cluster.run("rollback")
    assert again.returncode == 0 and "already rolled back" in again.stdout and cluster.patches() == patches


def test_after_a_rollback_the_next_deploy_starts_from_what_serves_not_from_the_failed_revision(cluster):
    assert cluster.run("deploy", smoke="exit 1").returncode == 1  # extract-00008 Ready, failed, rolled back
    fixed = f"kscribe={REGISTRY}/kscribe@sha256:{'d' * 64}"  # the fix: a new image
    done = cluster.run("deploy", "--image", fixed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "extract",
        [
            {"revisionName": "extract-00007", "percent": 90, "tag": "previous"},
            {"revisionName": "extract-00009", "percent": 10, "tag": "canary"},
        ],
    ) in cluster.patches()
    state = json.loads((cluster.tmp / "rollout" / "state.json").read_text())
    assert state["services"]["extract"] == {"previous": "extract-00007", "new": "extract-00009"}


def test_a_smoke_test_failing_at_100_percent_rolls_back_too(cluster):
    marker = cluster.tmp / "first-run"
    done = cluster.run("deploy", smoke=f"test ! -e {marker} && touch {marker}")  # passes once only
    assert done.returncode == 1
    assert "smoke test at canary passed" in done.stdout and "the smoke test at 100 % failed" in done.stdout
    assert [t["percent"] for t in cluster.ksvc("extract")["status"]["traffic"]] == [100, 0]
    assert cluster.ksvc("extract")["status"]["traffic"][0]["revisionName"] == "extract-00007"


def test_a_revision_that_never_gets_ready_is_rolled_back_before_any_canary(cluster):
    cluster.set(broken=["transcribe-00003"])
    done = cluster.run("deploy")
    assert done.returncode == 1
    assert "revision/transcribe-00003" in done.stdout
    patches = cluster.patches()
    assert not any(t.get("tag") == "canary" for _, ts in patches for t in ts), "no traffic to the new revisions"
    assert [p[0] for p in patches] == ["api", "extract", "transcribe"]
    assert all(
        ts[0]["percent"] == 100 and ts[0]["revisionName"].endswith(("00003", "00007", "00002")) for _, ts in patches
    )


def test_rollback_by_hand_without_state_uses_the_previous_tags(cluster):
    assert cluster.run("deploy").returncode == 0
    (cluster.tmp / "rollout" / "state.json").unlink()
    done = cluster.run("rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster.patches()[-3:] == [
        (
            n,
            [
                {"revisionName": f"{n}-{r:05d}", "percent": 100, "tag": "previous"},
                {"revisionName": f"{n}-{r + 1:05d}", "percent": 0, "tag": "failed"},
            ],
        )
        for n, r in (("api", 3), ("extract", 7), ("transcribe", 2))
    ]


def test_a_reference_that_is_not_a_digest_is_refused(cluster):
    done = cluster.run("deploy", "--image", f"kscribe={REGISTRY}/kscribe:v1")
    assert done.returncode == 1 and "not pinned to a digest" in done.stdout
    assert not [c for c in cluster.calls() if "apply" in c]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlay")
def test_the_gke_overlay_renders_with_every_image_pinned_to_its_digest(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import rollout
    finally:
        sys.path.pop(0)
    docs = rollout.render(ROOT / "knative" / "overlays" / "gke", rollout.Kubectl("kscribe"))
    rollout.pin_images(
        docs,
        {
            "kscribe": f"{REGISTRY}/kscribe@{DIGEST}",
            "kscribe-diarize": f"{REGISTRY}/kscribe-diarize@{DIARIZE_DIGEST}",
            "kscribe-gpu": f"{REGISTRY}/kscribe-gpu@{GPU_DIGEST}",
        },
    )
    images = {
        d["metadata"]["name"]: [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]
        for d in rollout.services(docs)
    }
    assert len(images) == 9
    assert images.pop("transcribe") == [f"{REGISTRY}/kscribe-gpu@{GPU_DIGEST}"]
    assert images.pop("diarize") == [f"{REGISTRY}/kscribe-diarize@{DIARIZE_DIGEST}"]
    assert all(v == [f"{REGISTRY}/kscribe@{DIGEST}"] for v in images.values()), images


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlay")
def test_a_release_that_leaves_an_image_on_its_tag_is_refused():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import rollout
    finally:
        sys.path.pop(0)
    docs = rollout.render(ROOT / "knative" / "overlays" / "gke", rollout.Kubectl("kscribe"))
    with pytest.raises(rollout.RolloutError, match="kscribe-diarize"):
        rollout.pin_images(
            docs, {"kscribe": f"{REGISTRY}/kscribe@{DIGEST}", "kscribe-gpu": f"{REGISTRY}/kscribe-gpu@{GPU_DIGEST}"}
        )
