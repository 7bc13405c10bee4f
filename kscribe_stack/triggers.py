"""Reading routes from the Knative manifests, so local routing is production routing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

KNATIVE_BASE = Path(__file__).resolve().parent.parent / "knative" / "base"
_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


@dataclass(frozen=True)
class Delivery:
    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay_s: float = 0.2
    dead_letter_service: str = ""
    # The sink's uri, relative to the Service's address (Knative resolves ref + uri so).
    dead_letter_path: str = ""

    def delay_s(self, attempt: int) -> float:
        """Knative's backoff: linear delay × attempt, or exponential delay × 2^attempt."""
        if self.backoff_policy == "linear":
            return self.backoff_delay_s * attempt
        return self.backoff_delay_s * 2.0**attempt


@dataclass(frozen=True)
class Route:
    name: str
    service: str
    delivery: Delivery
    # The Trigger's filter.attributes: CloudEvent attribute (type, or an extension) → value.
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.attributes.get("type", "")

    def matches(self, attributes: Mapping[str, object]) -> bool:
        """Knative's attribute filter: the event has every listed attribute, each with exactly
        the listed value ("" matches any value); no filter matches every event."""
        return all(
            name in attributes and (value == "" or attributes[name] == value) for name, value in self.attributes.items()
        )


def _seconds(iso: str) -> float:
    m = _DURATION.match(iso or "")
    if not m:
        raise ValueError(f"unsupported backoffDelay {iso!r} (use PT#S or PT#M#S)")
    return float(m.group(1) or 0) * 60 + float(m.group(2) or 0)


def _delivery(spec: dict | None, default: Delivery) -> Delivery:
    if not spec:
        return default
    dead_letter = spec.get("deadLetterSink") or {}
    sink = (dead_letter.get("ref") or {}).get("name", default.dead_letter_service)
    path = dead_letter.get("uri", default.dead_letter_path if "deadLetterSink" not in spec else "")
    if "://" in path:
        raise ValueError(f"deadLetterSink uri {path!r}: the local broker takes a path relative to its ref only")
    return Delivery(
        retry=int(spec.get("retry", default.retry)),
        backoff_policy=spec.get("backoffPolicy", default.backoff_policy),
        backoff_delay_s=_seconds(spec["backoffDelay"]) if "backoffDelay" in spec else default.backoff_delay_s,
        dead_letter_service=sink,
        dead_letter_path=path,
    )


def load_routes(directory: Path = KNATIVE_BASE, broker: str = "default") -> list[Route]:
    docs = [d for p in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    default = Delivery()
    for d in docs:
        if d.get("kind") == "Broker" and d["metadata"]["name"] == broker:
            default = _delivery(d.get("spec", {}).get("delivery"), default)
    routes = []
    for d in docs:
        if d.get("kind") != "Trigger" or d["spec"].get("broker") != broker:
            continue
        spec = d["spec"]
        routes.append(
            Route(
                name=d["metadata"]["name"],
                service=spec["subscriber"]["ref"]["name"],
                delivery=_delivery(spec.get("delivery"), default),
                attributes={str(k): str(v) for k, v in ((spec.get("filter") or {}).get("attributes") or {}).items()},
            )
        )
    return routes


@dataclass(frozen=True)
class Ping:
    """A PingSource: ``data`` posted to ``service`` every ``period_s``."""

    name: str
    namespace: str
    service: str
    period_s: float
    data: str = ""
    content_type: str = ""

    @property
    def source(self) -> str:
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"


def _period_s(schedule: str) -> float:
    """The period of a cron schedule the local broker can keep: ``* * * * *`` or
    ``*/N * * * *`` (every N minutes); anything else needs ``--ping-seconds``."""
    fields = schedule.split()
    if len(fields) == 5 and fields[1:] == ["*"] * 4:
        if fields[0] == "*":
            return 60.0
        if fields[0].startswith("*/") and fields[0][2:].isdigit() and int(fields[0][2:]) > 0:
            return 60.0 * int(fields[0][2:])
    raise ValueError(f"unsupported PingSource schedule {schedule!r} (use '* * * * *' or '*/N * * * *')")


def load_pings(directory: Path = KNATIVE_BASE) -> list[Ping]:
    docs = [d for p in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    namespace = next((d.get("namespace") for d in docs if d.get("kind") == "Kustomization"), None)
    kustomization = directory / "kustomization.yaml"
    if kustomization.is_file():
        namespace = (yaml.safe_load(kustomization.read_text()) or {}).get("namespace", namespace)
    pings = []
    for d in docs:
        if d.get("kind") != "PingSource":
            continue
        spec = d["spec"]
        pings.append(
            Ping(
                name=d["metadata"]["name"],
                namespace=d["metadata"].get("namespace") or namespace or "default",
                service=spec["sink"]["ref"]["name"],
                period_s=_period_s(spec.get("schedule", "* * * * *")),
                data=spec.get("data", ""),
                content_type=spec.get("contentType", ""),
            )
        )
    return pings
