"""``blueprint preview STACK --render-k8s DIR``: every Kubernetes object as YAML, every Helm release's values.

Users point their own scanners (kubeconform, kube-linter, checkov, trivy) at the output. Secret
values are written as ``[secret]``: rendering never prints a secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from blueprint.preview.plan import MASK, RESOURCE_SIG, SECRET_SIG_KEY, Plan, Resource, is_secret, mask

_HELM = "kubernetes:helm.sh/v3:Release"


def _clean(value: Any) -> Any:
    """Wire values to plain YAML values: whole numbers back to ints, unknowns and secrets masked.

    A secret map (e.g. a Secret's whole ``stringData``) keeps its keys with each value masked, so
    the object still validates against its schema and scanners see which keys it sets.
    """
    if is_secret(value):
        inner = value.get("value")
        return dict.fromkeys(inner, MASK) if isinstance(inner, dict) else MASK
    if isinstance(value, dict) and value.get(SECRET_SIG_KEY) != RESOURCE_SIG:
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    value = mask(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def k8s_object(r: Resource) -> dict[str, Any] | None:
    """The manifest a Kubernetes resource would apply, or None for providers and Helm releases."""
    if not r.type.startswith("kubernetes:") or r.type == _HELM or r.type.startswith("pulumi:providers"):
        return None
    _, gv, kind = r.type.split(":")
    group, _, version = gv.rpartition("/")
    group = "" if group == "core" else group
    obj = _clean(r.inputs)
    obj["apiVersion"] = f"{group}/{version}" if group else version
    obj["kind"] = kind
    meta = dict(obj.get("metadata") or {})
    meta.setdefault("name", (r.outputs.get("metadata") or {}).get("name", r.name))
    obj["metadata"] = meta
    return obj


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(p for p in parts if p))


def render_k8s(plan: Plan, out_dir: Path) -> int:
    """Write ``<kind>-<namespace>-<name>.yaml`` per object and ``helm/<release>.values.yaml`` per release."""
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for r in plan.resources:
        if r.type == _HELM:
            inputs = _clean(r.inputs)
            helm = out_dir / "helm"
            helm.mkdir(exist_ok=True)
            head = (
                f"# chart: {inputs.get('chart')} {inputs.get('version')}"
                f" repo: {(inputs.get('repositoryOpts') or {}).get('repo', '')}"
                f" namespace: {inputs.get('namespace')}\n"
            )
            path = helm / f"{_slug(inputs.get('name') or r.name)}.values.yaml"
            path.write_text(head + yaml.safe_dump(inputs.get("values") or {}, sort_keys=True))
            count += 1
            continue
        obj = k8s_object(r)
        if obj is None:
            continue
        meta = obj["metadata"]
        path = out_dir / f"{_slug(obj['kind'], meta.get('namespace', ''), meta['name'])}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        count += 1
    return count
