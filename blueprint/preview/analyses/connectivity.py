"""Connectivity: would the stack's NetworkPolicies let every flow the components need through?

Flows come from the components' declarations (``components/_contracts.py``: each component registers
the flows it and its charts need as props of its ComponentResource) plus one derived flow per
ServiceMonitor/PodMonitor the program renders (Prometheus -> the target port). Each flow is checked
on both sides, as Kubernetes evaluates NetworkPolicies
(https://kubernetes.io/docs/concepts/services-networking/network-policies/):

- egress: if any policy in the source pod's namespace selects it with ``Egress`` in ``policyTypes``,
  one of their egress rules must admit the destination and port; ingress likewise on the destination;
- a rule's peers: ``podSelector`` alone means pods of the policy's namespace; ``namespaceSelector``
  (namespaces carry ``kubernetes.io/metadata.name``) and both together mean their intersection; an empty
  ``to``/``from`` or ``ports`` admits everything; a named port matches the destination container port's name;
- ``ipBlock``: the VPC CNI's network policy agent enforces policies in eBPF on IP addresses
  (aws/aws-network-policy-agent pkg/ebpf/bpf_client.go ``computeMapEntriesFromEndpointRules``: the
  controller resolves selectors to pod IPs, and those and ipBlock CIDRs land alike in LPM-trie maps), so an ``ipBlock`` matches
  *any* address in it, pod IPs included (pods get VPC addresses); the Kubernetes docs leave in-cluster
  ipBlock matching to the implementation. A pod peer matches only a block holding the whole VPC CIDR
  minus its ``except`` ranges (where in the VPC a pod lands is not known up front). Early agent
  releases ignored ``except`` (aws-network-policy-agent#92, #105); this model honours it as the API
  defines it (check the agent version if IMDS isolation matters). Traffic from the
  pod's own node (kubelet probes) is always allowed (aws-network-policy-agent#65) and is not a flow here.

Declared pod labels are those the chart or component documents; a policy selecting pods by a label the
declaration does not list is treated as not selecting them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses._plan_k8s import flows, k8s_objects, meta, peers, selector_matches, vpc_cidr
from blueprint.preview.plan import Plan

NAME = "connectivity"


@dataclass(frozen=True)
class Endpoint:
    """A resolved flow end: pods (namespace, labels) or an address range."""

    namespace: str | None = None
    labels: Mapping[str, str] | None = None
    cidr: str | None = None

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None

    def __str__(self) -> str:
        if self.is_pod:
            sel = ",".join(f"{k}={v}" for k, v in sorted((self.labels or {}).items())) or "*"
            return f"pods {self.namespace}/{{{sel}}}"
        return str(self.cidr)


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    spec: Mapping[str, Any]
    owner: str = "?"
    """The component (type name) that renders the policy, where the fix goes."""

    def types(self) -> list[str]:
        types = self.spec.get("policyTypes")
        if types:
            return list(types)
        # The API server's default: Ingress always, Egress when egress rules are present.
        return ["Ingress", *(["Egress"] if self.spec.get("egress") else [])]


class _World:
    """The cluster as the policies see it: namespaces with labels, the VPC CIDR pods draw addresses from."""

    def __init__(self, plan: Plan):
        self.vpc = vpc_cidr(plan)
        self.ns_labels: dict[str, dict[str, str]] = {}
        for _, obj in k8s_objects(plan, "Namespace"):
            _, name = meta(obj)
            self.ns_labels[name] = {
                **(obj.get("metadata", {}).get("labels") or {}),
                "kubernetes.io/metadata.name": name,
            }
        owners = {r.urn: r.type.rsplit(":", 1)[-1] for r in plan.resources if not r.custom}
        self.policies = [
            Policy(*meta(obj), obj.get("spec") or {}, owners.get(r.parent, "?"))
            for r, obj in k8s_objects(plan, "NetworkPolicy")
        ]
        self.peers = peers(plan)

    def namespace_labels(self, ns: str) -> dict[str, str]:
        # Namespaces the program does not create (kube-system) still carry their name label.
        return self.ns_labels.get(ns, {"kubernetes.io/metadata.name": ns})

    def resolve(self, doc: Mapping[str, Any]) -> Endpoint | str:
        """An endpoint, or the reason it cannot be resolved."""
        if "ref" in doc:
            target = self.peers.get(str(doc["ref"]))
            if target is None:
                return f"names peer {doc['ref']!r}, which no component declares"
            return self.resolve(target)
        if doc.get("vpc"):
            return Endpoint(cidr=self.vpc) if self.vpc else "needs the VPC CIDR, but the plan has no VPC"
        if "cidr" in doc:
            return Endpoint(cidr=str(doc["cidr"]))
        return Endpoint(namespace=str(doc["namespace"]), labels=dict(doc.get("labels") or {}))

    # ------------------------------------------------------------------ matching
    def _in_block(self, ep: Endpoint, block: Mapping[str, Any]) -> bool:
        rng = self.vpc if ep.is_pod else ep.cidr
        if not rng:
            return False
        net = ipaddress.ip_network(rng, strict=False)
        outer = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        if net.version != outer.version or not net.subnet_of(outer):  # type: ignore[arg-type]
            return False
        return not any(net.overlaps(ipaddress.ip_network(e, strict=False)) for e in block.get("except") or [])

    def peer_matches(self, peer: Mapping[str, Any], policy_ns: str, ep: Endpoint) -> bool:
        if "ipBlock" in peer:
            return self._in_block(ep, peer["ipBlock"])
        if not ep.is_pod:
            return False
        assert ep.namespace is not None
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.namespace_labels(ep.namespace)):
                return False
        elif ep.namespace != policy_ns:
            return False
        return selector_matches(peer.get("podSelector"), ep.labels or {})

    @staticmethod
    def port_matches(ports: list[Mapping[str, Any]] | None, flow: Mapping[str, Any], dst: Endpoint) -> bool:
        if not ports:
            return True
        for p in ports:
            if str(p.get("protocol") or "TCP") != flow["protocol"]:
                continue
            port = p.get("port")
            if port is None:
                return True
            if isinstance(port, str) and not port.isdigit():
                if dst.is_pod and port == flow.get("portName"):
                    return True
                continue
            low, high = int(float(port)), int(float(p.get("endPort") or port))
            if low <= int(flow["port"]) <= high:
                return True
        return False

    def side(self, direction: str, me: Endpoint, other: Endpoint, flow: Mapping[str, Any]) -> tuple[bool, list[str]]:
        """Whether ``direction`` (Ingress on the destination, Egress on the source) admits the flow; the policies involved."""
        if not me.is_pod:
            return True, []
        selecting = [
            p
            for p in self.policies
            if p.namespace == me.namespace
            and direction in p.types()
            and selector_matches(p.spec.get("podSelector"), me.labels or {})
        ]
        if not selecting:
            return True, []
        key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        dst = other if direction == "Egress" else me
        for p in selecting:
            for rule in p.spec.get(key) or []:
                peer_list = rule.get(peer_key)
                if peer_list and not any(self.peer_matches(peer, p.namespace, other) for peer in peer_list):
                    continue
                if self.port_matches(rule.get("ports"), flow, dst):
                    return True, [p.name]
        return False, [f"{p.namespace}/{p.name} ({p.owner})" for p in selecting]


# --------------------------------------------------------------------------- derived flows
def _monitor_flows(plan: Plan) -> list[dict[str, Any]]:
    """Prometheus -> each ServiceMonitor's (and PodMonitor's) target pods and port, from the rendered objects."""
    services = [obj for _, obj in k8s_objects(plan, "Service")]
    templates = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for _, obj in k8s_objects(plan, kind):
            tmpl = (obj.get("spec") or {}).get("template") or {}
            templates.append((meta(obj)[0], (tmpl.get("metadata") or {}).get("labels") or {}, tmpl.get("spec") or {}))
    out: list[dict[str, Any]] = []

    def container_port(ns: str, selector: Mapping[str, str], name: Any) -> tuple[int, str | None] | None:
        for tns, labels, spec in templates:
            if tns == ns and selector and all(labels.get(k) == v for k, v in selector.items()):
                for c in spec.get("containers") or []:
                    for p in c.get("ports") or []:
                        if p.get("name") == name or (
                            not isinstance(name, str) and int(p["containerPort"]) == int(name)
                        ):
                            return int(float(p["containerPort"])), p.get("name")
        return None

    for kind in ("ServiceMonitor", "PodMonitor"):
        for _, sm in k8s_objects(plan, kind):
            ns, name = meta(sm)
            spec = sm.get("spec") or {}
            endpoints = spec.get("endpoints") or spec.get("podMetricsEndpoints") or []
            targets: list[tuple[Mapping[str, str], Any]] = []
            if kind == "PodMonitor":
                labels = (spec.get("selector") or {}).get("matchLabels") or {}
                targets = [(labels, ep.get("port")) for ep in endpoints]
            else:
                for svc in services:
                    if meta(svc)[0] != ns or not selector_matches(
                        spec.get("selector"), (svc.get("metadata") or {}).get("labels") or {}
                    ):
                        continue
                    sspec = svc.get("spec") or {}
                    for ep in endpoints:
                        for sp in sspec.get("ports") or []:
                            if sp.get("name") == ep.get("port"):
                                targets.append((sspec.get("selector") or {}, sp.get("targetPort", sp.get("port"))))
            for selector, port in targets:
                found = container_port(ns, selector, port)
                if found is None:
                    continue
                number, port_name = found
                out.append(
                    {
                        "name": f"Prometheus -> {kind} {ns}/{name} port {port_name or number}",
                        "src": {"ref": "prometheus"},
                        "dst": {"namespace": ns, "labels": dict(selector)},
                        "port": number,
                        "protocol": "TCP",
                        "portName": port_name,
                    }
                )
    # One flow per distinct target: both tracks of a model share a ServiceMonitor and a port.
    unique = {(f["name"], f["port"], tuple(sorted(f["dst"]["labels"].items()))): f for f in out}
    return list(unique.values())


# --------------------------------------------------------------------------- analysis
def _fix(direction: str, src: Endpoint, dst: Endpoint, flow: Mapping[str, Any], policies: list[str]) -> str:
    port = f"{flow['protocol']} {int(flow['port'])}"
    if direction == "Egress":
        return f"add an egress rule to {dst} on {port} in a policy selecting {src} (blocked by {', '.join(policies)})"
    return f"add an ingress rule from {src} on {port} in a policy selecting {dst} (blocked by {', '.join(policies)})"


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """Evaluate every declared and derived flow against the stack's NetworkPolicies."""
    result = AnalysisResult(NAME)
    world = _World(plan)
    todo = [(r.name, doc) for r, doc in flows(plan)] + [("monitoring", doc) for doc in _monitor_flows(plan)]
    blocked: list[str] = []
    for owner, flow in todo:
        obj = f"flow '{flow['name']}' (declared by {owner})"
        src, dst = world.resolve(flow["src"]), world.resolve(flow["dst"])
        for end in (src, dst):
            if isinstance(end, str):
                result.findings.append(
                    Finding(
                        NAME, obj, f"The flow {end}.", "declare the peer in its component (components/_contracts.py)"
                    )
                )
        if isinstance(src, str) or isinstance(dst, str):
            continue
        for direction, me, other in (("Egress", src, dst), ("Ingress", dst, src)):
            ok, policies = world.side(direction, me, other, flow)
            if not ok:
                blocked.append(flow["name"])
                rule = (
                    f"{direction} from {src} to {dst} on {flow['protocol']} {int(flow['port'])} is dropped: "
                    f"NetworkPolicies {', '.join(policies)} select the {'source' if direction == 'Egress' else 'destination'} "
                    "and none of their rules admits it."
                )
                result.findings.append(Finding(NAME, obj, rule, _fix(direction, src, dst, flow, policies)))
    result.checked = {"flows": len(todo), "network policies": len(world.policies)}
    result.data = {"blocked": sorted(set(blocked))}
    return result
