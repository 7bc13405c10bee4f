"""The Knative wiring: every event type a function emits reaches a consumer, no Trigger waits
for a type nobody emits, and every Service runs a function that exists."""

import ast
import shutil
import subprocess

import pytest
import yaml

from kscribe_stack.triggers import load_routes
from tests.conftest import ROOT
from tests.functional.conftest import CATALOG, ENTRIES

KNATIVE = ROOT / "knative"
VALIDATOR = ROOT.parent / "shared" / "tools" / "validate-knative"
# Delivered straight to ingest by Eventarc (or a Pub/Sub push subscription), not via the broker.
FROM_OUTSIDE = {t for t, spec in CATALOG.items() if spec["producers"] == ["gcs"]}


def base_docs(kind):
    docs = [d for p in sorted((KNATIVE / "base").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    return [d for d in docs if d["kind"] == kind]


def test_every_emitted_type_has_a_trigger_to_each_consumer():
    routes = {(r.event_type, r.service) for r in load_routes()}
    for event_type, spec in CATALOG.items():
        if event_type in FROM_OUTSIDE:
            continue
        for consumer in spec["consumers"]:
            assert (event_type, consumer) in routes, f"no Trigger routes {event_type} to {consumer}"


def test_no_trigger_waits_for_a_type_nobody_emits():
    for route in load_routes():
        assert route.event_type in CATALOG, f"{route.name} filters on unknown type {route.event_type}"
        assert CATALOG[route.event_type]["producers"], f"{route.name}: nobody emits {route.event_type}"
        assert route.service in CATALOG[route.event_type]["consumers"], f"{route.name} is not in the catalog"


def test_every_service_runs_an_existing_function_entry():
    services = {d["metadata"]["name"]: d for d in base_docs("Service")}
    assert set(services) == set(ENTRIES)
    for name, doc in services.items():
        args = dict(a.lstrip("-").split("=", 1) for a in doc["spec"]["template"]["spec"]["containers"][0]["args"])
        source = ROOT / args["source"]
        tree = ast.parse(source.read_text())
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert args["target"] in functions, f"{name}: {source} defines no {args['target']}"


def test_trigger_subscribers_and_dead_letter_sinks_are_services():
    services = {d["metadata"]["name"] for d in base_docs("Service")}
    for route in load_routes():
        assert route.service in services
        assert not route.delivery.dead_letter_service or route.delivery.dead_letter_service in services
    for route in load_routes():
        if route.service != "notify":
            assert route.delivery.dead_letter_service == "dead-letter", f"{route.name} has no dead-letter sink"
            # The sink's address names the subscriber, so the job fails at the stage that gave up.
            assert route.delivery.dead_letter_path == f"/{route.service}", route.name


def test_transcribe_takes_one_chunk_at_a_time_and_waits_for_its_model():
    spec = next(d for d in base_docs("Service") if d["metadata"]["name"] == "transcribe")["spec"]["template"]["spec"]
    assert spec["containerConcurrency"] == 1
    assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/health/ready"


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_overlays_render_and_pass_the_knative_schemas(overlay):
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (needed to render the kustomize overlays)")
    if not VALIDATOR.exists():
        pytest.skip(f"{VALIDATOR} is not here")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KNATIVE / "overlays" / overlay)], check=True, capture_output=True, text=True
    ).stdout
    result = subprocess.run([str(VALIDATOR), "-"], input=rendered, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", 0 invalid" in result.stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = [d["kind"] for d in docs]
    knative_services = [d for d in docs if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative")]
    # The overlay keeps every Knative Service and Trigger the base declares, and adds none.
    assert len(knative_services) == len(base_docs("Service")) and "SinkBinding" in kinds
    assert kinds.count("Trigger") == len(base_docs("Trigger"))
