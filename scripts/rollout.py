#!/usr/bin/env python3
"""Deploy kscribe to a cluster by Knative traffic split, with automatic rollback.

    scripts/rollout.py deploy --digests DIR --smoke "scripts/smoke.py ..."   # what deploy.yml runs
    scripts/rollout.py rollback [--state FILE]                                 # by hand, or CI's safety net

``deploy``:

1. renders ``knative/overlays/gke`` (``kubectl kustomize``) and pins every container of the
   ``kscribe``, ``kscribe-diarize`` and ``kscribe-gpu`` images to the digests the image build recorded (``--digests
   DIR``: one file per image name holding ``REGISTRY/PATH/NAME@sha256:…``; or ``--image
   NAME=REF``);
2. notes each Knative Service's serving revision (the *previous* one: the one taking most of its
   traffic, which after a rollback is not the latest) in ``--state``, then applies
   the manifests with each existing Service's traffic held at 100 % on its previous revision
   and 0 % on the new one (tag ``canary``), so nothing moves before the new revisions are Ready
   (readiness is the Service's own probe: ``GET /health/ready`` on the new pods);
3. gives each Service's new revision ``--canary-percent`` (10) of the traffic, tag ``canary``
   (the previous keeps the rest, tag ``previous``);
4. runs ``--smoke`` (a shell command; ``KSCRIBE_CANARY_API_URL`` holds the api's canary tag URL);
5. sends 100 % to the latest revisions (the previous stay reachable at 0 %, tag ``previous``) and
   runs ``--smoke`` once more: at 10 % most events still reach the previous revisions, at 100 %
   the whole pipeline is the new one. Only then is the deploy done.

On any failure — a revision not Ready, either smoke test, an error or a cancellation
(SIGINT/SIGTERM) — every Service goes back to 100 % on its previous revision (the new one keeps
tag ``failed`` at 0 % for inspection), ``::error::`` lines are printed and the exit is 1.

``rollback`` sends 100 % of every Service back to the previous revision: the ones the state
file names, or else (by hand, no state) the revision tagged ``previous`` in each Service.

Only Knative Services are split; the other manifests (Triggers, ConfigMaps, policies) are
applied as they are and stay applied on rollback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
KSVC_API = "serving.knative.dev/v1"


class RolloutError(Exception):
    pass


class Cancelled(BaseException):
    pass


def log(message: str) -> None:
    print(f"rollout: {message}", flush=True)


def error(message: str) -> None:
    # GitHub Actions shows ::error:: lines as annotations on the run; elsewhere they read plainly.
    print(f"::error title=kscribe rollout::{message}", flush=True)


class Kubectl:
    def __init__(self, namespace: str, binary: str = "kubectl"):
        self.namespace = namespace
        self.binary = binary

    def run(self, *args: str, check: bool = True, namespaced: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.binary, *(["-n", self.namespace] if namespaced else []), *args]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RolloutError(f"{' '.join(cmd[:6])} … failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done

    def ksvc(self, name: str) -> dict | None:
        done = self.run("get", "ksvc", name, "-o", "json", check=False)
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise RolloutError(f"kubectl get ksvc {name} failed: {done.stderr.strip()[-500:]}")
        return json.loads(done.stdout)

    def ksvcs(self) -> list[dict]:
        return json.loads(self.run("get", "ksvc", "-o", "json").stdout).get("items", [])

    def traffic(self, name: str, traffic: list[dict]) -> None:
        self.run("patch", "ksvc", name, "--type", "merge", "-p", json.dumps({"spec": {"traffic": traffic}}))

    def wait_ready(self, kind: str, name: str, timeout_s: int) -> None:
        self.run("wait", f"{kind}/{name}", "--for=condition=Ready", f"--timeout={timeout_s}s")


# --- rendering -------------------------------------------------------------------------------


def image_base(ref: str) -> str:
    """``REGION-docker.pkg.dev/P/kscribe/kscribe-gpu:v1@sha256:…`` → ``kscribe-gpu``."""
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def read_digests(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in sorted(directory.iterdir()) if p.is_file()}


def pin_images(docs: list[dict], images: dict[str, str]) -> list[dict]:
    """Point every container of the named images at the given references (digests)."""
    for name, ref in images.items():
        if "@sha256:" not in ref or len(ref.rsplit("@sha256:", 1)[1]) != 64:
            raise RolloutError(f"image {name}: {ref!r} is not pinned to a digest (…@sha256:<64 hex>)")
    used, unpinned = set(), set()
    for doc in docs:
        spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            base = image_base(container.get("image", ""))
            if base in images:
                container["image"] = images[base]
                used.add(base)
            elif "@sha256:" not in container.get("image", ""):
                unpinned.add(base)
    if missing := set(images) - used:
        raise RolloutError(f"no container uses the image(s) {sorted(missing)}: wrong name?")
    if unpinned:
        # A release is one set of digests: a service left on a tag would run whatever it names.
        raise RolloutError(f"no digest given for the image(s) {sorted(unpinned)}")
    return docs


def render(overlay: Path, kubectl: Kubectl) -> list[dict]:
    out = kubectl.run("kustomize", str(overlay), namespaced=False).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def services(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d.get("apiVersion") == KSVC_API and d.get("kind") == "Service"]


# --- the rollout -----------------------------------------------------------------------------


def serving_revision(ksvc: dict | None) -> str | None:
    """The revision taking most of a Service's traffic now (after a rollback that is not the
    latest Ready one), else its latest Ready revision; None for a Service not there yet."""
    status = (ksvc or {}).get("status") or {}
    routed = [t for t in status.get("traffic", []) if t.get("revisionName") and t.get("percent")]
    if routed:
        return max(routed, key=lambda t: t["percent"])["revisionName"]
    return status.get("latestReadyRevisionName")


class Rollout:
    def __init__(self, kubectl: Kubectl, state_path: Path, timeout_s: int = 600, canary_percent: int = 10):
        self.k = kubectl
        self.state_path = state_path
        self.timeout_s = timeout_s
        self.canary_percent = canary_percent
        self.state: dict[str, Any] = {"namespace": kubectl.namespace, "services": {}}

    def save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(self.state, indent=2) + "\n")

    def svc(self, name: str) -> dict:
        return self.state["services"][name]

    def deploy(self, docs: list[dict], smoke: str) -> None:
        ksvcs = services(docs)
        for doc in ksvcs:  # 2. the previous revisions, and the manifests held on them
            name = doc["metadata"]["name"]
            previous = serving_revision(self.k.ksvc(name))
            self.state["services"][name] = {"previous": previous, "new": None}
            if previous:
                doc["spec"]["traffic"] = [
                    {"revisionName": previous, "percent": 100},
                    {"latestRevision": True, "percent": 0, "tag": "canary"},
                ]
        self.save()
        rendered = self.state_path.with_name("rendered.yaml")
        rendered.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        log(f"applying {len(docs)} manifests ({len(ksvcs)} Knative Services) from {rendered}")
        self.k.run("apply", "-f", str(rendered))

        for name, svc in self.state["services"].items():  # the new revisions, Ready
            svc["new"] = self.new_revision(name)
            self.save()
            if svc["new"] is None:
                log(f"{name}: unchanged ({svc['previous']})")
                continue
            log(f"{name}: waiting for {svc['new']} to be Ready")
            self.k.wait_ready("revision", svc["new"], self.timeout_s)
        changed = {n: s for n, s in self.state["services"].items() if s["new"]}
        if not changed:
            log("nothing changed: no canary, the smoke test runs against what serves")

        for name, svc in changed.items():  # 3. canary
            if svc["previous"]:
                self.k.traffic(
                    name,
                    [
                        {"revisionName": svc["previous"], "percent": 100 - self.canary_percent, "tag": "previous"},
                        {"revisionName": svc["new"], "percent": self.canary_percent, "tag": "canary"},
                    ],
                )
                log(
                    f"{name}: {self.canary_percent} % to {svc['new']} (canary), "
                    f"{100 - self.canary_percent} % to {svc['previous']}"
                )
            self.k.wait_ready("ksvc", name, self.timeout_s)

        self.smoke(smoke, "canary")  # 4.
        if not changed:
            self.state["promoted"] = True
            self.save()
            return

        for name, svc in changed.items():  # 5. promote, and verify
            if svc["previous"]:
                self.k.traffic(
                    name,
                    [
                        {"latestRevision": True, "percent": 100},
                        {"revisionName": svc["previous"], "percent": 0, "tag": "previous"},
                    ],
                )
                self.k.wait_ready("ksvc", name, self.timeout_s)
            log(f"{name}: 100 % to {svc['new']}")
        self.smoke(smoke, "100 %")
        self.state["promoted"] = True
        self.save()

    def new_revision(self, name: str) -> str | None:
        """The revision the apply made for ``name``; None when the template did not change."""
        deadline = time.monotonic() + 120
        while True:
            current = self.k.ksvc(name) or {}
            meta, status = current.get("metadata", {}), current.get("status", {})
            created = status.get("latestCreatedRevisionName")
            if created and status.get("observedGeneration") == meta.get("generation"):
                return None if created == self.svc(name)["previous"] else created
            if time.monotonic() > deadline:
                raise RolloutError(f"{name}: Knative did not take the new generation within 120 s")
            time.sleep(1)

    def api_url(self) -> str:
        api = self.k.ksvc("api") or {}
        status = api.get("status", {})
        for target in status.get("traffic", []):
            if target.get("tag") == "canary" and target.get("url"):
                return target["url"]
        return status.get("url", "")

    def smoke(self, command: str, stage: str) -> None:
        if not command:
            log(f"no smoke test given ({stage})")
            return
        env = dict(os.environ)
        if url := self.api_url():
            env["KSCRIBE_CANARY_API_URL"] = url
        log(f"smoke test at {stage}: {command}")
        # The operator's own smoke command, a shell line by design (the workflow passes it).
        done = subprocess.run(command, shell=True, env=env)  # noqa: S602
        if done.returncode != 0:
            raise RolloutError(f"the smoke test at {stage} failed (exit {done.returncode})")
        log(f"smoke test at {stage} passed")

    def rollback(self) -> list[str]:
        """100 % back to every previous revision; returns the Services rolled back."""
        rolled = []
        for name, svc in self.state["services"].items():
            if not svc.get("previous"):
                if svc.get("new"):
                    error(f"{name}: first deployment, no previous revision to roll back to")
                continue
            traffic = [{"revisionName": svc["previous"], "percent": 100, "tag": "previous"}]
            if svc.get("new") and svc["new"] != svc["previous"]:
                traffic.append({"revisionName": svc["new"], "percent": 0, "tag": "failed"})
            self.k.traffic(name, traffic)
            rolled.append(name)
            log(f"{name}: rolled back, 100 % to {svc['previous']}")
        return rolled


def on_signal(signum, _frame):
    raise Cancelled(f"signal {signum}")


def cmd_deploy(a) -> int:
    k = Kubectl(a.namespace, a.kubectl)
    images = dict(item.split("=", 1) for item in a.image)
    if a.digests:
        images = {**read_digests(a.digests), **images}
    docs = [d for d in yaml.safe_load_all(a.rendered.read_text()) if d] if a.rendered else render(a.overlay, k)
    docs = pin_images(docs, images) if images else docs
    if not images:
        log("no image digests given: the manifests' own image references are applied")
    rollout = Rollout(k, a.state, a.timeout, a.canary_percent)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        rollout.deploy(docs, a.smoke)
    except (Exception, Cancelled) as e:
        error(f"deploy failed: {e}")
        if not any(s.get("previous") for s in rollout.state["services"].values()):
            error("nothing to roll back to (first deployment): fix forward")
            return 1
        try:
            rolled = rollout.rollback()
        except Exception as again:
            error(f"ROLLBACK FAILED: {again}. Roll back by hand: scripts/rollout.py rollback --state {a.state}")
            return 2
        rollout.state["rolled_back"] = True
        rollout.save()
        error(f"rolled back {', '.join(rolled) or 'nothing'} to the previous revisions; the deploy FAILED")
        return 1
    log("deployed")
    return 0


def cmd_rollback(a) -> int:
    k = Kubectl(a.namespace, a.kubectl)
    rollout = Rollout(k, a.state)
    if a.state.is_file():
        rollout.state = json.loads(a.state.read_text())
        k.namespace = rollout.state.get("namespace", a.namespace)
        if rollout.state.get("promoted") and not a.force:
            log(f"{a.state} records a promoted deploy: nothing to roll back (--force to roll back anyway)")
            return 0
        if rollout.state.get("rolled_back") and not a.force:
            log(f"{a.state} records a deploy already rolled back")
            return 0
    else:  # by hand: each Service's revision tagged `previous`
        for item in k.ksvcs():
            previous = [
                t["revisionName"]
                for t in item.get("spec", {}).get("traffic", [])
                if t.get("tag") == "previous" and t.get("revisionName")
            ]
            latest = item.get("status", {}).get("latestReadyRevisionName")
            rollout.state["services"][item["metadata"]["name"]] = {
                "previous": previous[0] if previous else None,
                "new": latest,
            }
    rolled = rollout.rollback()
    error(f"rolled back {', '.join(rolled) or 'nothing'} to the previous revisions")
    return 0 if rolled else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--namespace", default="kscribe")
    p.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
    p.add_argument("--state", type=Path, default=ROOT / ".kscribe" / "rollout" / "state.json")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("deploy", help="render, apply, canary, smoke test, promote or roll back")
    d.add_argument("--overlay", type=Path, default=ROOT / "knative" / "overlays" / "gke")
    d.add_argument("--rendered", type=Path, help="apply these manifests instead of rendering the overlay")
    d.add_argument("--digests", type=Path, help="a directory with one file per image name holding its digest reference")
    d.add_argument("--image", action="append", default=[], metavar="NAME=REF@sha256:…")
    d.add_argument("--smoke", default="", help="shell command of the smoke test")
    d.add_argument("--canary-percent", type=int, default=10)
    d.add_argument("--timeout", type=int, default=600, help="seconds for each revision to be Ready")
    d.set_defaults(func=cmd_deploy)
    r = sub.add_parser("rollback", help="100 %% back to the previous revisions")
    r.add_argument("--force", action="store_true", help="roll back even a deploy the state file records as promoted")
    r.set_defaults(func=cmd_rollback)
    a = p.parse_args(argv)
    try:
        return a.func(a)
    except RolloutError as e:
        error(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
