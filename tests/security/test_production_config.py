"""Findings N7 and N8 (production configuration), and who may reach ingest's unauthenticated
events, checked on what would be applied.

N7: the generated config trusted the cluster's whole pod range as proxies, so any pod could
send ``X-Forwarded-For: <any address>`` through the gateway and choose its own auth-failure
bucket. Now only the pod's loopback (queue-proxy) and the one gateway hop are trusted.

N8: the result-link HMAC key was made in Redis, where every function's pod can read it: the
gke overlay now gives the api, and only the api, ``KSCRIBE_LINK_SECRET`` from Secret Manager
(terraform/secrets.tf → terraform/sync-secrets.sh → the kscribe-link Secret)."""

from __future__ import annotations

from pathlib import Path

from kscribe.api.input import client_address
from kscribe.settings import Settings
from tests.infra.test_knative import container, of_kind, services

ROOT = Path(__file__).resolve().parents[2]
POD_RANGE_POD = "10.4.0.9"  # a pod in the cluster's pod range (the attacker)
GATEWAY_POD = "10.4.1.2"  # Kourier's gateway pod, also in the pod range
INTERNET_CLIENT = "203.0.113.5"


def _production_settings(tmp_path) -> Settings:
    env = {"KSCRIBE_DATA_DIR": str(tmp_path)}
    for line in (ROOT / "knative/overlays/gke/generated/config.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.startswith("KSCRIBE_TRUSTED"):
            env[name] = value
    return Settings.from_env(env)


ACTIVATOR_POD = "10.4.2.3"


def _client(settings: Settings, forwarded_for: str, activator: bool = False) -> str:
    """The client the api holds a request to. The gateway appends its peer to what the client
    sent; queue-proxy (in the api's pod, the api's peer) appends the gateway's address, or the
    activator's when it is in between (it appends the gateway's)."""
    hops = f", {GATEWAY_POD}, {ACTIVATOR_POD}" if activator else f", {GATEWAY_POD}"
    chain = forwarded_for + hops
    return client_address("127.0.0.1", chain, settings.trusted_proxies, settings.trusted_gateway_hops)


def test_a_pod_cannot_pick_its_bucket_through_the_gateway(tmp_path):
    settings = _production_settings(tmp_path)
    # The finding: the pod writes an address of its choosing; the gateway appends the pod's.
    assert _client(settings, f"6.6.6.6, {POD_RANGE_POD}") == POD_RANGE_POD
    assert _client(settings, f"1.1.1.1, 6.6.6.6, {POD_RANGE_POD}") == POD_RANGE_POD


def test_internet_clients_are_still_told_apart(tmp_path):
    settings = _production_settings(tmp_path)
    assert _client(settings, INTERNET_CLIENT) == INTERNET_CLIENT
    # A client's own X-Forwarded-For is its own words: the gateway's entry is what counts.
    assert _client(settings, f"6.6.6.6, {INTERNET_CLIENT}") == INTERNET_CLIENT
    # The activator in the path (scale from zero): a shared address, never a chosen one.
    assert _client(settings, f"6.6.6.6, {INTERNET_CLIENT}", activator=True) == GATEWAY_POD


def test_the_terraform_template_trusts_no_range_of_pods():
    template = (ROOT / "terraform/templates/config.env.tftpl").read_text()
    lines = [line for line in template.splitlines() if line.startswith("KSCRIBE_TRUSTED")]
    assert lines == ["KSCRIBE_TRUSTED_PROXIES=127.0.0.0/8", "KSCRIBE_TRUSTED_GATEWAY_HOPS=1"], lines


def test_only_the_api_gets_the_link_secret_and_from_a_secret():
    rendered = services("gke")
    holders = {
        name
        for name, service in rendered.items()
        for var in container(service).get("env", [])
        if var["name"] == "KSCRIBE_LINK_SECRET"
    }
    assert holders == {"api"}, holders
    (var,) = [v for v in container(rendered["api"])["env"] if v["name"] == "KSCRIBE_LINK_SECRET"]
    assert var["valueFrom"]["secretKeyRef"] == {"name": "kscribe-link", "key": "secret"}, var
    sync = (ROOT / "terraform/sync-secrets.sh").read_text()
    assert "create secret generic kscribe-link" in sync and "secrets link" in sync
    assert 'resource "google_secret_manager_secret" "link"' in (ROOT / "terraform/secrets.tf").read_text()


def _ingress_namespaces(policy: dict) -> set[str]:
    found: set[str] = set()
    for rule in policy["spec"].get("ingress", []):
        for source in rule.get("from", []):
            for expression in source.get("namespaceSelector", {}).get("matchExpressions", []):
                found |= set(expression["values"])
    return found


def _selects(policy: dict, component: str) -> bool:
    selector = policy["spec"]["podSelector"]
    if selector.get("matchLabels", {}).get("app.kubernetes.io/component") == component:
        return True
    return any(component in e.get("values", []) for e in selector.get("matchExpressions", []))


def test_only_eventarc_through_knative_reaches_ingest():
    """Ingest's events carry no token (by design, behind Eventarc): who may reach it is limited
    to Eventarc's forwarder and Knative's own hops; the broker's data plane is not among them."""
    policies = of_kind("gke", "NetworkPolicy", "networking.k8s.io/")
    admitting = {
        name: _ingress_namespaces(p)
        for name, p in policies.items()
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p, "ingest")
    }
    reach = set().union(*admitting.values())
    assert reach == {"knative-serving", "kourier-system", "events-system"}, admitting
