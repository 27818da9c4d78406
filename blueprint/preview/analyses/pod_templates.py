"""Every pod the plan's objects would create, as the admission analysis checks them.

Workload pod templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, PodTemplate); the
runner and listener pods of ``gha-runner-scale-set`` releases and the job and step pods their container
hooks create from the hook template ConfigMap; and, for Helm releases whose pod shape is not known, each
``resources`` block of their values as a chart container (checked against LimitRanges and quotas, not PSA).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from blueprint.preview.plan import Plan
from blueprint.preview.render import k8s_object

HELM = "kubernetes:helm.sh/v3:Release"
SCALE_SET_CHART = "gha-runner-scale-set"
# The ConfigMap key the runner's ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE points at (components/ci_runners.py).
HOOK_TEMPLATE_LABEL = "platform.ai/hook-template"

_TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    # The CI backends' job shapes (components/_ci.py): the pods GitLab Runner, Jenkins and the
    # CircleCI agent create from their own configuration formats.
    "PodTemplate": ("template",),
}


@dataclass
class PodTemplate:
    """A pod the cluster would be asked to admit."""

    where: str
    """``Deployment serving/llama-3-8b`` or ``gha-runner-scale-set arc-runners/cpu-runners runner pod``."""
    namespace: str
    spec: dict[str, Any]
    psa: bool = True
    """False for chart containers whose pod shape is unknown (resources only)."""
    advisory: bool = False
    """Findings do not fail the preview (a pod only some workflows create)."""
    psa_fix: str | None = None
    """What to do about a PSA refusal when the pod's shape is not ours to change."""


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _workload_templates(plan: Plan) -> Iterator[PodTemplate]:
    for r in plan.resources:
        if not r.type.startswith("kubernetes:") or r.type == HELM:
            continue
        kind = r.type.rsplit(":", 1)[-1]
        if kind not in _TEMPLATE_PATHS and kind != "Pod":
            continue
        obj = k8s_object(r) or {}
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "default")
        spec = obj.get("spec") if kind == "Pod" else (_dig(obj, _TEMPLATE_PATHS[kind]) or {}).get("spec")
        if isinstance(spec, dict):
            yield PodTemplate(f"{kind} {ns}/{meta.get('name')}", ns, spec)


def _resource_blocks(values: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``resources: {requests, limits}`` block in a chart's values, with its key path."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == "resources" and isinstance(value, Mapping) and set(value) & {"requests", "limits"}:
                yield sub, dict(value)
            else:
                yield from _resource_blocks(value, sub)
    elif isinstance(values, list):
        for i, value in enumerate(values):
            yield from _resource_blocks(value, f"{path}[{i}]")


def _hook_templates(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    """Hook pod templates by (namespace, ConfigMap name), from ConfigMaps labelled as such."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in plan.by_type("kubernetes:core/v1:ConfigMap"):
        obj = k8s_object(r) or {}
        meta = obj.get("metadata") or {}
        if HOOK_TEMPLATE_LABEL not in (meta.get("labels") or {}):
            continue
        for text in (obj.get("data") or {}).values():
            doc = _load(text) if isinstance(text, str) else None
            if isinstance(doc, dict):
                out[(meta.get("namespace", "default"), meta.get("name", ""))] = doc
    return out


def _load(text: str) -> Any:
    """A hook template: JSON (what the platform writes, fast) or any YAML (what the hooks accept)."""
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def hook_step_pod(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod the hooks create for a container-action step (``createContainerStepPod``, v0.8.0): the
    ``$job`` fields merged onto the step container, and a *privileged* ``fs-init`` init container."""
    pod = hook_job_pod(template)
    pod["initContainers"][0] = {"name": "fs-init", "securityContext": {"privileged": True, "runAsUser": 1001}}
    pod["containers"] = pod["containers"][:1]
    return pod


def hook_job_pod(template: Mapping[str, Any]) -> dict[str, Any]:
    """The job pod runner-container-hooks build from a hook template (``createJobPod``, k8s-novolume).

    The hooks add an ``fs-init`` init container without resources and two emptyDirs, then merge
    the template: ``$job`` container fields onto the job container, other pod fields as given
    (actions/runner-container-hooks packages/k8s/src/k8s/index.ts and utils.ts, v0.8.0).
    """
    spec = dict(template.get("spec") or {})
    job: dict[str, Any] = {"name": "job"}
    others = []
    for c in spec.get("containers") or []:
        if c.get("name") == "$job":
            job.update({k: v for k, v in c.items() if k not in ("name", "image")})
        elif not str(c.get("name", "")).startswith("$"):
            others.append(c)
    pod = {k: v for k, v in spec.items() if k not in ("containers", "volumes", "initContainers")}
    pod["initContainers"] = [{"name": "fs-init"}, *list(spec.get("initContainers") or [])]
    pod["containers"] = [job, *others]
    pod["volumes"] = [
        {"name": "externals", "emptyDir": {}},
        {"name": "github", "emptyDir": {}},
        *list(spec.get("volumes") or []),
    ]
    return pod


def _chart_templates(plan: Plan) -> Iterator[PodTemplate]:
    hooks = _hook_templates(plan)
    for r in plan.by_type(HELM):
        inputs = r.inputs
        ns, release, values = inputs.get("namespace", "default"), inputs.get("name", r.name), inputs.get("values") or {}
        if str(inputs.get("chart", "")).endswith(SCALE_SET_CHART):
            spec = _dig(values, ("template", "spec"))
            if isinstance(spec, dict):
                yield PodTemplate(f"{SCALE_SET_CHART} {ns}/{release} runner pod", ns, spec)
            yield from _scale_set_job_pods(ns, release, spec or {}, hooks)
            listener = _dig(values, ("listenerTemplate", "spec"))
            ctrl_ns = _dig(values, ("controllerServiceAccount", "namespace")) or ns
            if isinstance(listener, dict):
                yield PodTemplate(f"{SCALE_SET_CHART} {ctrl_ns}/{release} listener", ctrl_ns, listener, psa=False)
            continue
        for path, block in _resource_blocks(values):
            spec = {"containers": [{"name": path, "resources": block}]}
            yield PodTemplate(f"helm release {ns}/{release} values.{path}", ns, spec, psa=False)


def _scale_set_job_pods(
    ns: str, release: str, runner_spec: Mapping[str, Any], hooks: Mapping[tuple[str, str], dict[str, Any]]
) -> Iterator[PodTemplate]:
    """Kubernetes-mode job pods: where the runner's env sends them and what its hook template says."""
    for c in runner_spec.get("containers") or []:
        env = {e.get("name"): e.get("value") for e in c.get("env") or [] if isinstance(e, Mapping)}
        path = env.get("ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE")
        if not path:
            continue
        job_ns = env.get("ACTIONS_RUNNER_KUBERNETES_NAMESPACE") or ns
        mount = next((m for m in c.get("volumeMounts") or [] if str(path).startswith(m.get("mountPath", "\0"))), None)
        volume: Mapping[str, Any] = next(
            (v for v in runner_spec.get("volumes") or [] if mount and v.get("name") == mount.get("name")), {}
        )
        cm = (volume.get("configMap") or {}).get("name")
        template = hooks.get((ns, cm)) if cm else None
        if template is not None:
            yield PodTemplate(
                f"{SCALE_SET_CHART} {job_ns}/{release} job pod (hook template)", job_ns, hook_job_pod(template)
            )
            yield PodTemplate(
                f"{SCALE_SET_CHART} {job_ns}/{release} container-action step pod (hook template)",
                job_ns,
                hook_step_pod(template),
                advisory=True,
                psa_fix="Docker container actions (`uses: docker://...` or an action with `runs.using: docker`) cannot "
                "run on this scale set: use JavaScript or composite actions, or a containerMode dind scale set in "
                "a dedicated privileged namespace",
            )


def pod_templates(plan: Plan) -> list[PodTemplate]:
    """Every pod template the plan renders (workloads, then charts)."""
    return [*_workload_templates(plan), *_chart_templates(plan)]
