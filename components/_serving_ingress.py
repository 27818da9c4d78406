"""The ALB in front of the serving component's models: settings, annotations, paths (internal).

Annotations: AWS Load Balancer Controller v2 docs/guide/ingress/annotations.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.model_spec import ModelSettings as Model


@dataclass(frozen=True)
class IngressSettings:
    """The ALB in front of the models."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    """``internal`` (default) or ``internet-facing`` (needs ``certificate_arn``)."""
    certificate_arn: str | None = None
    """ACM certificate: adds an HTTPS listener, TLS 1.3 policy and an HTTP->HTTPS redirect."""
    inbound_cidrs: Sequence[str] = ()
    """Client CIDRs allowed by the ALB's security group; empty means the VPC CIDR."""
    group_name: str = "serving"
    """ALB IngressGroup: Ingresses in one group share one ALB."""


def forward_action(model: str, canary_weight: int | None) -> str:
    """The ALB forward action (advanced schema) splitting ``model`` traffic between its target groups.

    Format: ``alb.ingress.kubernetes.io/actions.<name>`` in the LBC docs
    (docs/guide/ingress/annotations.md, "forward-multiple-tg"); ServiceName/ServicePort work
    in the advanced schema only.
    """
    groups = [{"serviceName": model, "servicePort": "http", "weight": 100 - (canary_weight or 0)}]
    if canary_weight:
        groups.append({"serviceName": f"{model}-canary", "servicePort": "http", "weight": canary_weight})
    return json.dumps({"type": "forward", "forwardConfig": {"targetGroups": groups}}, sort_keys=True)


def strip_prefix_transform(model: str) -> str:
    """URL rewrite so ``/<model>/v1/...`` reaches the server as ``/v1/...`` (LBC ``transforms.<name>``)."""
    # Model names are DNS labels ([a-z0-9-]): nothing in them needs escaping in the regex.
    rewrite = {"regex": f"^\\/{model}(\\/|$)(.*)$", "replace": "/$2"}
    return json.dumps([{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [rewrite]}}], sort_keys=True)


def alb_annotations(ing: IngressSettings, models: Mapping[str, Model], vpc_cidr: str) -> dict[str, str]:
    """The Ingress's annotations: the ALB, its listeners and TLS, and one forward action per model."""
    a = "alb.ingress.kubernetes.io/"
    annotations: dict[str, str] = {
        a + "scheme": ing.scheme,
        # Pods are targets directly (VPC CNI): no NodePort hop, and readiness gates apply.
        a + "target-type": "ip",
        a + "group.name": ing.group_name,
        a + "inbound-cidrs": ",".join(ing.inbound_cidrs or [vpc_cidr]),
        a + "healthcheck-path": "/health",
        # LLM responses stream for minutes; the 60 s default idle timeout cuts them off.
        a + "load-balancer-attributes": "idle_timeout.timeout_seconds=600,"
        "routing.http.drop_invalid_header_fields.enabled=true",
        a + "target-group-attributes": "deregistration_delay.timeout_seconds=30",
    }
    if ing.certificate_arn:
        annotations.update(
            {
                a + "certificate-arn": ing.certificate_arn,
                a + "listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
                a + "ssl-redirect": "443",
                a + "ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            }
        )
    else:
        annotations[a + "listen-ports"] = json.dumps([{"HTTP": 80}])
    for mname, m in models.items():
        annotations[a + f"actions.{mname}"] = forward_action(mname, m.canary.weight if m.canary else None)
        annotations[a + f"transforms.{mname}"] = strip_prefix_transform(mname)
    return annotations


def ingress_paths(models: Mapping[str, Model]) -> list[dict[str, Any]]:
    """One prefix path per model; the backend names the action, ``use-annotation`` makes the controller read it."""
    return [
        {
            "path": f"/{mname}",
            "pathType": "Prefix",
            "backend": {"service": {"name": mname, "port": {"name": "use-annotation"}}},
        }
        for mname in models
    ]
