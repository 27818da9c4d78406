"""``--render-k8s``: every Kubernetes object of every stack validates against the cluster version's OpenAPI schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from blueprint.render import render_k8s
from tests.conftest import ROOT, STACKS
from tests.k8s_layer import k8s_plan, stack_config

# Custom resources are not in the core schema. PrometheusRule bodies are checked by promtool
# (tests/monitoring/test_promtool.py, over the same rule files); here only their envelope: the
# spec keys each kind requires.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
}


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
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            assert obj["metadata"]["namespace"], path.name
            for key in CRD_KINDS[(obj["apiVersion"], obj["kind"])]:
                assert obj["spec"][key], f"{path.name}: spec.{key}"
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {exc.message} at {list(exc.path)}")
    assert {"Namespace", "Secret", "ConfigMap", "PrometheusRule"} <= kinds


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
