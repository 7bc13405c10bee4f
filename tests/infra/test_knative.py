"""knative/ and monitoring/: the security boundaries the rendered overlays must keep — egress per
function, who may send events to whom, which pod holds which secret, where the api's internal
port is reachable. Read from `kubectl kustomize` output, as it would be applied."""

from __future__ import annotations

import functools
import ipaddress
import json
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

KNATIVE = ROOT / "knative"
# shared/ sits beside the project root (or beside the folder of worktrees).
VALIDATOR = next(
    (
        p
        for p in (
            ROOT.parent / "shared" / "tools" / "validate-knative",
            ROOT.parent.parent / "shared" / "tools" / "validate-knative",
        )
        if p.exists()
    ),
    ROOT.parent / "shared" / "tools" / "validate-knative",
)
NAMESPACE = "kscribe"
FUNCTIONS = {"ingest", "extract", "transcribe", "diarize", "publish", "notify", "dead-letter", "api", "reconcile"}
# Every function but notify publishes events; notify only sends callbacks.
PUBLISHERS = FUNCTIONS - {"notify"}
# The functions that call Cloud Storage, and so need a Workload Identity token.
STORAGE_USERS = {"ingest", "extract", "transcribe", "diarize", "publish", "api", "reconcile"}
REDIS = ipaddress.ip_network("10.100.0.0/24")  # the placeholder range in generated/
GOOGLE_APIS = ipaddress.ip_network("199.36.153.8/30")  # private.googleapis.com
METADATA = {ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("169.254.169.252/32")}
# Never reachable from notify's internet egress.
NOT_INTERNET = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
]
# Ports Knative's queue-proxy holds in every pod (knative.dev/serving pkg/apis/serving
# k8s_validation.go reservedPorts, and profiling's 8008): a container must not bind them.
QUEUE_PROXY_PORTS = {8008, 8012, 8013, 8022, 8112, 9090, 9091}
# Knative names an object's OIDC identity <name>-oidc-<group>-<kind> (pkg/auth/serviceaccount.go);
# past 63 characters it would hash the name, and the subjects below would be wrong.
TRIGGER_IDENTITY = "system:serviceaccount:{ns}:{name}-oidc-eventing.knative.dev-trigger"
SINKBINDING_IDENTITY = "system:serviceaccount:{ns}:{name}-oidc-sources.knative.dev-sinkbinding"
PINGSOURCE_IDENTITY = "system:serviceaccount:{ns}:{name}-oidc-sources.knative.dev-pingsource"
# The pods behind the Kafka broker's ingress (kafka-broker-ingress.knative-eventing.svc).
KAFKA_RECEIVER = {"app": "kafka-broker-receiver"}


@functools.cache
def rendered(overlay: str) -> tuple[dict, ...]:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (needed to render the kustomize overlays)")
    out = subprocess.run(
        ["kubectl", "kustomize", str(KNATIVE / "overlays" / overlay)], check=True, capture_output=True, text=True
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(overlay: str, kind: str, group: str = "") -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d for d in rendered(overlay) if d["kind"] == kind and d["apiVersion"].startswith(group)
    }


def services(overlay: str) -> dict[str, dict]:
    return of_kind(overlay, "Service", "serving.knative.dev/")


def container(service: dict) -> dict:
    return service["spec"]["template"]["spec"]["containers"][0]


def env(service: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(service).get("env", [])}


def pod_labels(service: dict) -> dict[str, str]:
    # Knative gives a pod its template's labels (plus its own serving.knative.dev/*), never
    # the Service's: selectors that rely on Service labels select nothing.
    return service["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and not present:
            return False
        if expr["operator"] == "DoesNotExist" and present:
            return False
    return True


def rules(function: str, direction: str) -> list[dict]:
    """The egress or ingress rules that apply to ``function``'s pods in the gke overlay."""
    labels = pod_labels(services("gke")[function])
    found = []
    for policy in of_kind("gke", "NetworkPolicy").values():
        spec = policy["spec"]
        if direction.capitalize() in spec["policyTypes"] and selects(spec["podSelector"], labels):
            found.extend(spec.get(direction, []))
    return found


def ip_blocks(rule: dict) -> list[dict]:
    return [peer["ipBlock"] for peer in rule.get("to", []) + rule.get("from", []) if "ipBlock" in peer]


def namespaces(rule: dict) -> set[str]:
    found = set()
    for peer in rule.get("to", []) + rule.get("from", []):
        selector = peer.get("namespaceSelector", {})
        found |= {selector.get("matchLabels", {}).get("kubernetes.io/metadata.name")} - {None}
        for expr in selector.get("matchExpressions", []):
            if expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "In":
                found |= set(expr["values"])
    return found


def ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


# Rendering and schemas.


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_overlays_pass_the_knative_schemas_and_nothing_goes_unchecked_by_accident(overlay):
    if not VALIDATOR.exists():
        pytest.skip(f"{VALIDATOR} is not here")
    text = yaml.safe_dump_all(rendered(overlay))
    result = subprocess.run([str(VALIDATOR), "-"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator knows Service, Broker, Trigger, SinkBinding (and a few other Eventing
    # kinds) and lists everything else as "not checked": those kinds are held by the tests here.
    unchecked = set()
    for line in result.stdout.splitlines():
        if line.startswith("not checked"):
            kind, rest = line.split(": ", 1)[1].split(" ", 1)
            unchecked.add((kind, rest.rsplit("(", 1)[1].rstrip(")")))
    assert unchecked <= {
        ("Namespace", "v1"),
        ("ServiceAccount", "v1"),
        ("ConfigMap", "v1"),
        ("Secret", "v1"),
        ("Service", "v1"),
        ("Deployment", "apps/v1"),
        ("NetworkPolicy", "networking.k8s.io/v1"),
        ("EventPolicy", "eventing.knative.dev/v1alpha1"),
        ("PingSource", "sources.knative.dev/v1"),
        ("DomainMapping", "serving.knative.dev/v1beta1"),
        # Held by tests/infra/test_deploy_blockers.py and the PodMonitoring test below.
        ("PodDisruptionBudget", "policy/v1"),
        ("PodMonitoring", "monitoring.googleapis.com/v1"),
        ("Rules", "monitoring.googleapis.com/v1"),
        ("ClusterRules", "monitoring.googleapis.com/v1"),
        ("GlobalRules", "monitoring.googleapis.com/v1"),
    }, unchecked


def test_the_local_overlay_has_no_oidc_pieces_and_no_network_policies():
    kinds = {d["kind"] for d in rendered("local")}
    # An EventPolicy is refused while authentication-oidc is off, as it is on a dev cluster.
    assert "EventPolicy" not in kinds and "NetworkPolicy" not in kinds
    for name, service in services("local").items():
        assert "KSCRIBE_EVENT_AUTH" not in env(service), name
    for trigger in of_kind("local", "Trigger").values():
        assert "audience" not in trigger["spec"]["subscriber"]
    for source in of_kind("local", "PingSource").values():
        assert "audience" not in source["spec"]["sink"]


# Secrets.


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_only_notify_holds_the_callback_secret(overlay):
    for name, service in services(overlay).items():
        holds = any(
            e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "kscribe-callback"
            for e in env(service).values()
        )
        assert holds == (name == "notify"), name
        assert "KSCRIBE_CALLBACK_SECRET" not in env(service) or name == "notify"


# The api's internal port.


def internal_port() -> int:
    return int(env(services("gke")["api"])["KSCRIBE_INTERNAL_PORT"]["value"])


def test_the_api_serves_metrics_on_an_internal_port_of_its_own():
    api = services("gke")["api"]
    port = internal_port()
    assert port not in QUEUE_PROXY_PORTS, "queue-proxy binds it in the same pod"
    assert [p["containerPort"] for p in container(api)["ports"]] == [8080] != [port]
    # Bound to the pod's address, or the scrapers could not reach it.
    assert env(api)["KSCRIBE_INTERNAL_HOST"]["value"] == "0.0.0.0"
    for name, service in services("gke").items():
        assert ("KSCRIBE_INTERNAL_PORT" in env(service)) == (name == "api"), name


def test_only_the_scrapers_reach_the_api_internal_port():
    port = internal_port()
    reach = [r for r in rules("api", "ingress") if not r.get("ports") or port in ports(r)]
    assert reach and all(namespaces(r) == {"gmp-system"} for r in reach), reach
    # The gateway reaches queue-proxy's serving ports only.
    gateway = [r for r in rules("api", "ingress") if "kourier-system" in namespaces(r)]
    assert gateway and all(r.get("ports") and port not in ports(r) for r in gateway)


def test_podmonitoring_scrapes_the_api_internal_port_and_every_other_function():
    docs = [d for d in yaml.safe_load_all((ROOT / "monitoring" / "podmonitoring.yaml").read_text()) if d]
    scraped = {}
    for doc in docs:
        assert doc["kind"] == "PodMonitoring" and doc["metadata"]["namespace"] == NAMESPACE
        for name, service in services("gke").items():
            if selects(doc["spec"]["selector"], pod_labels(service)):
                assert name not in scraped, f"{name} scraped twice"
                scraped[name] = {(e["port"], e["path"]) for e in doc["spec"]["endpoints"]}
    assert scraped == {name: {(internal_port() if name == "api" else 8080, "/metrics")} for name in FUNCTIONS}
    for name, endpoints in scraped.items():
        ((port, _),) = endpoints
        assert any(namespaces(r) == {"gmp-system"} and port in ports(r) for r in rules(name, "ingress")), name


# Egress per function.


def test_every_function_reaches_dns_and_redis():
    for name in FUNCTIONS:
        egress = rules(name, "egress")
        assert any(namespaces(r) == {"kube-system"} and ports(r) == {53} for r in egress), name
        assert any(ipaddress.ip_network(b["cidr"]) == REDIS for r in egress for b in ip_blocks(r)), name


def test_only_publishers_reach_the_broker_ingress():
    for name in FUNCTIONS:
        broker = [r for r in rules(name, "egress") if "knative-eventing" in namespaces(r)]
        assert bool(broker) == (name in PUBLISHERS), name
        for rule in broker:
            # The gke Broker is of class Kafka: its ingress is the Kafka broker's receiver.
            assert [peer["podSelector"]["matchLabels"] for peer in rule["to"]] == [KAFKA_RECEIVER]
            assert ports(rule) == {8080, 8443}


def test_only_notify_reaches_the_internet_and_never_private_ranges_or_the_metadata_server():
    for name in FUNCTIONS:
        for rule in rules(name, "egress"):
            for block in ip_blocks(rule):
                net = ipaddress.ip_network(block["cidr"])
                if name != "notify":
                    assert net == REDIS or net.subnet_of(GOOGLE_APIS) or net in METADATA, (name, net)
                    assert net not in METADATA or name in STORAGE_USERS, (name, net)
                    continue
                if net == REDIS:
                    continue
                assert net == ipaddress.ip_network("0.0.0.0/0") and ports(rule) == {80, 443}, block
                excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
                for private in NOT_INTERNET:
                    assert any(private.subnet_of(e) for e in excepted), f"notify reaches {private}"
                assert not any(GOOGLE_APIS.subnet_of(e) for e in excepted), "notify fetches the token keys"


def test_the_functions_that_call_google_apis_reach_them_and_their_token_source():
    for name in FUNCTIONS - {"notify"}:
        nets = {ipaddress.ip_network(b["cidr"]): ports(r) for r in rules(name, "egress") for b in ip_blocks(r)}
        assert nets.get(GOOGLE_APIS) == {443}, name
        assert (set(nets) >= METADATA) == (name in STORAGE_USERS), name


# Events: who may send what to whom (gke).


def trigger_identity(name: str) -> str:
    identity = TRIGGER_IDENTITY.format(ns=NAMESPACE, name=name)
    assert len(identity.rsplit(":", 1)[1]) <= 63, identity
    return identity


def pingsource_identity(name: str) -> str:
    identity = PINGSOURCE_IDENTITY.format(ns=NAMESPACE, name=name)
    assert len(identity.rsplit(":", 1)[1]) <= 63, identity
    return identity


def audience(service: str) -> str:
    return f"serving.knative.dev/service/{NAMESPACE}/{service}"


def test_each_publisher_has_a_sinkbinding_of_its_own():
    for overlay in ("local", "gke"):
        bindings = of_kind(overlay, "SinkBinding")
        subjects = {b["spec"]["subject"]["name"] for b in bindings.values()}
        assert subjects == PUBLISHERS
        for binding in bindings.values():
            assert set(binding["spec"]["subject"]) == {"apiVersion", "kind", "name"}, "one Service each"
            assert binding["spec"]["sink"]["ref"] == {
                "apiVersion": "eventing.knative.dev/v1",
                "kind": "Broker",
                "name": "default",
            }
        labelled = {
            n for n, s in services(overlay).items() if pod_labels(s).get("kscribe.dev/publishes-events") == "true"
        }
        assert labelled == PUBLISHERS


def test_the_broker_accepts_events_only_from_the_publishers():
    policies = of_kind("gke", "EventPolicy")
    assert list(policies) == ["broker-publishers"]
    policy = policies["broker-publishers"]
    assert policy["apiVersion"] == "eventing.knative.dev/v1alpha1"
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["to"] == [
        {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}}
    ]
    assert "filters" not in policy["spec"]
    # Knative's own validation (validate-knative does not know EventPolicy): each `from` is one
    # of ref or sub, and a `*` only ends a sub. kscribe names exact subjects, no wildcard.
    subs = set()
    for entry in policy["spec"]["from"]:
        assert list(entry) == ["sub"] and "*" not in entry["sub"], entry
        subs.add(entry["sub"])
    expected = set()
    for binding in of_kind("gke", "SinkBinding"):
        identity = SINKBINDING_IDENTITY.format(ns=NAMESPACE, name=binding)
        assert len(identity.rsplit(":", 1)[1]) <= 63, identity
        expected.add(identity)
    assert subs == expected


def test_every_delivery_carries_a_token_for_its_subscriber():
    triggers = of_kind("gke", "Trigger")
    assert triggers
    for name, trigger in triggers.items():
        subscriber = trigger["spec"]["subscriber"]
        assert subscriber["audience"] == audience(subscriber["ref"]["name"]), name
        dls = trigger["spec"].get("delivery", {}).get("deadLetterSink")
        if dls:
            assert dls["audience"] == audience(dls["ref"]["name"]), name
    broker_dls = of_kind("gke", "Broker")["default"]["spec"]["delivery"]["deadLetterSink"]
    assert broker_dls["audience"] == audience(broker_dls["ref"]["name"])
    sources = of_kind("gke", "PingSource")
    assert sources
    for name, source in sources.items():
        assert source["spec"]["sink"]["audience"] == audience(source["spec"]["sink"]["ref"]["name"]), name


def test_each_consumer_verifies_the_tokens_of_exactly_its_triggers():
    triggers = of_kind("gke", "Trigger")
    broker_dls = of_kind("gke", "Broker")["default"]["spec"]["delivery"]["deadLetterSink"]["ref"]["name"]
    senders: dict[str, set[str]] = {}
    for name, trigger in triggers.items():
        senders.setdefault(trigger["spec"]["subscriber"]["ref"]["name"], set()).add(trigger_identity(name))
        # A Trigger without a dead-letter sink of its own falls back to the Broker's.
        dls = (trigger["spec"].get("delivery", {}).get("deadLetterSink") or {}).get("ref", {}).get("name", broker_dls)
        senders.setdefault(dls, set()).add(trigger_identity(name))
    for name in of_kind("gke", "PingSource"):
        sink = of_kind("gke", "PingSource")[name]["spec"]["sink"]["ref"]["name"]
        senders.setdefault(sink, set()).add(pingsource_identity(name))
    for name, service in services("gke").items():
        variables = {k: v.get("value") for k, v in env(service).items()}
        if name not in senders:
            # ingest hears from Eventarc's forwarder, api from clients: no Knative tokens.
            assert "KSCRIBE_EVENT_AUTH" not in variables, name
            continue
        assert variables["KSCRIBE_EVENT_AUTH"] == "oidc", name
        assert variables["KSCRIBE_EVENT_AUDIENCE"] == audience(name), name
        assert set(variables["KSCRIBE_EVENT_SENDERS"].split(",")) == senders[name], name
    config = of_kind("gke", "ConfigMap")
    data = next(c["data"] for n, c in config.items() if n.startswith("kscribe-config"))
    assert data["KSCRIBE_EVENT_ISSUER"].startswith("https://container.googleapis.com/v1/projects/")
    assert data["KSCRIBE_EVENT_JWKS_URL"] == data["KSCRIBE_EVENT_ISSUER"] + "/jwks"


# Durable events (gke) and the simple broker (local).


def test_the_gke_broker_is_the_kafka_broker_on_a_topic_terraform_owns():
    broker = of_kind("gke", "Broker")["default"]
    annotations = broker["metadata"]["annotations"]
    assert annotations["eventing.knative.dev/broker.class"] == "Kafka"
    # Knative neither makes nor deletes the topic: its replication is terraform's (kafka.tf).
    assert annotations["kafka.eventing.knative.dev/external.topic"]
    config = broker["spec"]["config"]
    assert config == {"apiVersion": "v1", "kind": "ConfigMap", "name": "kafka-broker-config", "namespace": NAMESPACE}
    data = of_kind("gke", "ConfigMap")["kafka-broker-config"]["data"]
    host, port = data["bootstrap.servers"].rsplit(":", 1)
    assert host.endswith(".cloud.goog") and ".managedkafka." in host and port == "9092"
    # Managed Kafka takes only authenticated TLS: the client certificate (mTLS) is the Secret
    # sync-secrets.sh writes, with the key names Knative's Kafka data plane reads.
    assert data["auth.secret.ref.name"] == "kscribe-kafka"
    script = (ROOT / "terraform" / "sync-secrets.sh").read_text()
    assert "--from-literal=protocol=SSL" in script
    assert "--from-file=user.crt=" in script and "--from-file=user.key=" in script
    assert int(data["default.topic.replication.factor"]) >= 3


def test_the_local_broker_stays_the_default_channel_based_broker():
    broker = of_kind("local", "Broker")["default"]
    assert "eventing.knative.dev/broker.class" not in broker["metadata"].get("annotations", {})
    assert "config" not in broker["spec"]
    assert "kafka-broker-config" not in of_kind("local", "ConfigMap")


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_every_trigger_dead_letters_to_the_dead_letter_function(overlay):
    # notify's too: a callback event notify cannot take is recorded on the job, not dropped.
    triggers = of_kind(overlay, "Trigger")
    assert {t["spec"]["subscriber"]["ref"]["name"] for t in triggers.values()} >= {"notify"}
    for name, trigger in triggers.items():
        delivery = trigger["spec"]["delivery"]
        assert delivery["deadLetterSink"]["ref"] == {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "name": "dead-letter",
        }, name
        assert delivery["retry"] >= 1 and delivery["backoffPolicy"] == "exponential", name


# The reconciler.


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_a_pingsource_wakes_the_reconciler_every_minute(overlay):
    sources = of_kind(overlay, "PingSource", "sources.knative.dev/")
    assert list(sources) == ["reconcile-every-minute"]
    spec = sources["reconcile-every-minute"]["spec"]
    assert spec["schedule"] == "* * * * *"
    assert spec["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "reconcile"}
    reconcile = services(overlay)["reconcile"]
    assert container(reconcile)["args"] == ["--source=functions/reconcile.py", "--target=reconcile"]
    assert reconcile["spec"]["template"]["spec"]["serviceAccountName"] == "kscribe-reconcile"
    assert reconcile["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    assert "REDIS_URL" in env(reconcile)
    assert "kscribe-reconcile" in of_kind(overlay, "ServiceAccount")


def test_the_reconciler_accepts_only_its_pingsource_and_publishes_as_itself():
    variables = {k: v.get("value") for k, v in env(services("gke")["reconcile"]).items()}
    assert variables["KSCRIBE_EVENT_SENDERS"] == pingsource_identity("reconcile-every-minute")
    assert variables["KSCRIBE_SINK_TOKEN_FILE"] == "/oidc/token"
    subs = {e["sub"] for e in of_kind("gke", "EventPolicy")["broker-publishers"]["spec"]["from"]}
    assert SINKBINDING_IDENTITY.format(ns=NAMESPACE, name="reconcile-publisher") in subs
    # The ping comes from the PingSource adapter in knative-eventing, through Knative's gateway.
    reach = set().union(*(namespaces(r) for r in rules("reconcile", "ingress")))
    assert {"knative-eventing", "knative-serving", "gmp-system"} <= reach


def test_the_generated_component_names_the_reconciler_and_the_kafka_broker():
    template = (ROOT / "terraform" / "templates" / "component.yaml.tftpl").read_text()
    placeholder = (KNATIVE / "overlays" / "gke" / "generated" / "kustomization.yaml").read_text()
    for text in (template, placeholder):
        assert "name: kafka-broker-config" in text and "/data/bootstrap.servers" in text
        assert "kafka.eventing.knative.dev~1external.topic" in text
    assert "kscribe-reconcile@" in placeholder
    accounts = of_kind("gke", "ServiceAccount")
    for name in FUNCTIONS:
        assert accounts[f"kscribe-{name}"]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"], name


# Alerts and the dashboard follow the reconciler.


def test_stuck_and_redrive_alerts_point_at_the_reconcilers_numbers():
    doc = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())
    alerts = {r["alert"]: r for g in doc["spec"]["groups"] for r in g["rules"]}
    stuck = alerts["KscribeJobsStuck"]
    assert "kscribe_jobs_stuck" in stuck["expr"]
    minutes = int(stuck["for"].rstrip("m"))
    assert stuck["for"].endswith("m") and minutes < 10  # was 10 minutes after 30 of no progress
    assert "kscribe_redrives_total" in alerts["KscribeRedrivesHigh"]["expr"]
    assert "by (stage)" in alerts["KscribeRedrivesHigh"]["expr"]
    assert 'reason="redrive_exhausted"' in alerts["KscribeRedriveExhausted"]["expr"]
    panels = json.loads((ROOT / "monitoring" / "dashboard.json").read_text())["panels"]
    exprs = " ".join(target["expr"] for panel in panels for target in panel["targets"])
    for metric in ("kscribe_redrives_total", 'reason="redrive_exhausted"', "kscribe_jobs_stuck"):
        assert metric in exprs, metric


def test_gke_result_links_are_signed_gcs_urls_on_the_apis_public_name():
    config = next(
        d for d in rendered("gke") if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kscribe-config")
    )
    assert config["data"]["KSCRIBE_LINKS"] == "gcs"
    domain = of_kind("gke", "DomainMapping", "serving.knative.dev/")
    assert config["data"]["KSCRIBE_PUBLIC_URL"] in {f"https://{name}" for name in domain}
    template = (ROOT / "terraform" / "templates" / "config.env.tftpl").read_text()
    assert "KSCRIBE_LINKS=gcs" in template and "KSCRIBE_PUBLIC_URL=https://${api_domain}" in template
