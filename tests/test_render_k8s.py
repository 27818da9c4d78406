"""``--render-k8s``: every Kubernetes object of every stack validates against the cluster version's OpenAPI schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from blueprint.preview.render import render_k8s
from tests.conftest import ROOT, STACKS
from tests.k8s_layer import k8s_plan, stack_config

# Custom resources are not in the core schema; for these only the envelope and the spec fields
# their CRD requires are checked. PrometheusRule bodies are checked by promtool
# (tests/monitoring/test_promtool.py, over the same rule files).
CRD_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("endpoints", "selector"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
}


# Karpenter's custom resources are validated against their CRD's openAPIV3Schema at the pinned
# chart version (vendored test data, tests/schemas/README.md).
KARPENTER_SCHEMAS = ROOT / "tests" / "schemas" / "karpenter"
KARPENTER_VERSION = "karpenter.sh/v1", "karpenter.k8s.aws/v1"


def _crd_validator(kind: str) -> jsonschema.protocols.Validator:
    doc = json.loads((KARPENTER_SCHEMAS / f"{kind}.v1.json").read_text())
    schema = doc["openAPIV3Schema"]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _objects(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, yaml.safe_load(p.read_text())) for p in sorted(out.glob("*.yaml"))]


def _k8s_version(stack: str) -> str:
    version = f"{stack_config(stack).cluster.version}.0"
    # kubernetes-validate ships one schema per minor; a cluster newer than the pinned package must bump it.
    assert version in all_versions(), f"kubernetes-validate has no schema for {version}; upgrade it"
    return version


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_validates_strictly(stack: str, tmp_path: Path) -> None:
    count = render_k8s(k8s_plan(stack), tmp_path)
    objects = _objects(tmp_path)
    assert objects
    assert count >= len(objects)
    version = _k8s_version(stack)
    kinds = set()
    for path, obj in objects:
        kinds.add(obj["kind"])
        if obj["apiVersion"] in KARPENTER_VERSION:
            errors = [f"{list(e.path)}: {e.message}" for e in _crd_validator(obj["kind"]).iter_errors(obj)]
            assert not errors, (path.name, errors)
            continue
        required = CRD_KINDS.get((obj["apiVersion"], obj["kind"]))
        if required is not None:
            assert obj["metadata"]["namespace"], path.name
            for key in required:
                assert obj["spec"][key], (path.name, key)
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {exc.message} at {list(exc.path)}")
    assert {"Namespace", "Secret", "ConfigMap", "PrometheusRule"} <= kinds
    if stack_config(stack).node_provisioner == "karpenter":
        assert {"EC2NodeClass", "NodePool"} <= kinds


@pytest.mark.parametrize("kind", ["EC2NodeClass", "NodePool"])
def test_karpenter_schema_rejects_a_broken_object(kind: str) -> None:
    # The vendored schema is live: a wrong type and an unknown enum value are reported.
    bad = {"apiVersion": "x/v1", "kind": kind, "metadata": {"name": "n"}, "spec": {}}
    if kind == "NodePool":
        bad["spec"] = {"template": {"spec": {"nodeClassRef": {"group": "g", "kind": "k", "name": "n"},
                                             "requirements": []}},
                       "disruption": {"consolidationPolicy": "Sometimes"}}  # fmt: skip
    else:
        bad["spec"] = {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "r",
                       "subnetSelectorTerms": [{"tags": {"a": "b"}}], "securityGroupSelectorTerms": [{"tags": {"a": "b"}}],
                       "metadataOptions": {"httpTokens": "sometimes"}}  # fmt: skip
    assert list(_crd_validator(kind).iter_errors(bad))


@pytest.mark.parametrize("stack", STACKS)
def test_every_helm_release_writes_a_values_file(stack: str, tmp_path: Path) -> None:
    render_k8s(k8s_plan(stack), tmp_path)
    files = {p.name: p.read_text() for p in (tmp_path / "helm").glob("*.values.yaml")}
    for release in ("kube-prometheus-stack", "prometheus-operator-crds", "dcgm-exporter"):
        text = files[f"{release}.values.yaml"]
        assert text.startswith("# chart: ")
        assert " namespace: " in text.splitlines()[0]
        yaml.safe_load(text)
    # Rendering never prints a secret: the Grafana Secret's values are masked.
    grafana = yaml.safe_load((tmp_path / "Secret-monitoring-grafana-admin.yaml").read_text())
    assert grafana["stringData"] == {"admin-user": "[secret]", "admin-password": "[secret]"}


def test_cli_render_k8s(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "blueprint", "preview", "dev", "--render-k8s", str(tmp_path), "--quiet", "--no-policy"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    written = list(tmp_path.rglob("*.yaml"))
    if (ROOT / "components" / "cluster.py").exists():
        # With the cluster on main the program wires the Kubernetes layer (infra/__main__.py).
        assert any(p.name == "kube-prometheus-stack.values.yaml" for p in written), sorted(p.name for p in written)
        for p in written:
            yaml.safe_load(p.read_text())
