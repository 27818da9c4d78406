"""What a component promises the rest of the cluster: the network flows it needs and the metrics it emits (internal).

A component is the single owner of both. It builds them with the helpers below and hands the result
to its ``ComponentResource`` as props::

    super().__init__("platform:index:Thing", name, contracts.declare(flows=..., metrics=...), opts)

The SDK registers a component's props as its inputs, so the plan (and the snapshot, for review)
records them under the component resource; ``blueprint/preview/analyses/connectivity.py`` and
``blueprint/preview/analyses/metric_contract.py`` read them back from there. Nothing here creates a resource.

Flows include those between the pods a component's Helm charts create, written from the chart's
documented labels and ports at the pinned version (cite the template next to each). API-server
traffic (webhooks, aggregated APIs) comes from the EKS control-plane ENIs in the cluster's subnets:
declare it with ``cidr(vpc_cidr)``, which is how the VPC CNI's network policy agent sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FLOWS_KEY = "platformFlows"
METRICS_KEY = "platformMetrics"
PEERS_KEY = "platformPeers"

# A representative public address (TEST-NET-2, RFC 5737) for "somewhere on the internet" (GitHub,
# S3's public ranges behind the gateway endpoint): egress rules must admit it, the IMDS must not.
INTERNET = "198.51.100.10/32"

# Labels Prometheus attaches to every scraped series from the target (prometheus-operator
# ServiceMonitor/PodMonitor relabelling): queries may always use them.
TARGET_LABELS = ("job", "instance", "namespace", "pod", "service", "endpoint", "container")


def pods(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A peer: the pods in ``namespace`` carrying ``labels`` (as their chart or component sets them)."""
    return {"namespace": namespace, "labels": dict(labels)}


def ref(peer: str) -> dict[str, Any]:
    """A peer another component declares by name (e.g. ``prometheus``, declared by Monitoring)."""
    return {"ref": peer}


def vpc() -> dict[str, Any]:
    """A peer in the VPC but outside the pod network (API server ENIs, endpoints), resolved to the plan's VPC CIDR."""
    return {"vpc": True}


def cidr(block: str) -> dict[str, Any]:
    """A peer outside the pod network, e.g. the VPC CIDR (control-plane and ALB ENIs) or ``INTERNET``."""
    return {"cidr": block}


@dataclass(frozen=True)
class Flow:
    """One connection the component needs: ``src`` opens it to ``dst`` on ``port``."""

    name: str
    """Stable, human name (``keda metrics-apiserver -> operator gRPC``)."""
    src: Mapping[str, Any]
    dst: Mapping[str, Any]
    port: int
    protocol: str = "TCP"
    port_name: str | None = None
    """The destination container port's name, when it has one (named ports in policies match it)."""
    source: str = ""
    """Where the ports and labels come from (chart template at the pinned version, or this component)."""

    def public(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "src": dict(self.src),
            "dst": dict(self.dst),
            "port": self.port,
            "protocol": self.protocol,
        }
        if self.port_name:
            doc["portName"] = self.port_name
        if self.source:
            doc["source"] = self.source
        return doc


def dns(namespace: str, labels: Mapping[str, str] | None = None, what: str = "pods") -> list[Flow]:
    """CoreDNS lookups (UDP and TCP 53) from ``namespace``; EKS's CoreDNS pods carry ``k8s-app: kube-dns``."""
    src = pods(namespace, labels or {})
    dst = pods("kube-system", {"k8s-app": "kube-dns"})
    return [Flow(f"{namespace} {what} -> CoreDNS {p}", src, dst, 53, p, "dns") for p in ("UDP", "TCP")]


@dataclass(frozen=True)
class Series:
    """Metrics one workload emits, with the labels each carries once scraped."""

    producer: str
    """Who emits them (``vLLM llama-3-8b``, ``DCGM exporter``)."""
    metrics: Mapping[str, Sequence[str]]
    """Metric name -> label names (histograms: list ``_bucket``/``_sum``/``_count`` separately)."""
    labels: Sequence[str] = ()
    """Labels every one of these series carries besides its own (e.g. what the scrape adds)."""
    values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Label -> the only values it takes (e.g. ``model_name`` -> the served model name)."""
    workload: Mapping[str, str] | None = None
    """``{"namespace", "kind", "name"}`` of the workload an autoscaler targets, to tie its query to this contract."""
    external: bool = False
    """Emitted by something this program does not deploy (documented in docs/metrics-contract.md)."""

    def public(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "producer": self.producer,
            "metrics": {k: sorted(set(v)) for k, v in sorted(self.metrics.items())},
        }
        if self.labels:
            doc["labels"] = sorted(set(self.labels))
        if self.values:
            doc["values"] = {k: sorted(set(v)) for k, v in sorted(self.values.items())}
        if self.workload:
            doc["workload"] = dict(self.workload)
        if self.external:
            doc["external"] = True
        return doc


def declare(
    *,
    flows: Iterable[Flow] = (),
    metrics: Iterable[Series] = (),
    peers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The props a component registers: its flows, its metric contracts and named peers (e.g. ``prometheus``)."""
    props: dict[str, Any] = {}
    flow_docs = [f.public() for f in flows]
    if flow_docs:
        props[FLOWS_KEY] = flow_docs
    series = [s.public() for s in metrics]
    if series:
        props[METRICS_KEY] = series
    if peers:
        props[PEERS_KEY] = {k: dict(v) for k, v in peers.items()}
    return props
