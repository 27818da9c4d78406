"""Model lineage: which image, weights and run every model Deployment serves, as its annotations say.

``components/_lineage.py`` writes ``platform.ai/*`` annotations on each model Deployment (pods carry
the label ``platform.ai/model``) and on its pod template. This analysis reads them back from the
plan, lists them per model in the preview report (and in the plan JSON under ``data.models``), and
reports, without failing the preview, what an auditor could not answer from them: a missing
annotation, a pod template that disagrees with its Deployment, an image not pinned by digest, a
model without a version, S3 weights without a version id or DVC hash. The policy pack
(``governance-model-lineage``) enforces the same facts per tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.analyses._plan_k8s import k8s_objects, meta
from blueprint.preview.plan import Plan
from components import _lineage

NAME = "lineage"
MODEL_LABEL = "platform.ai/model"


def _describe(ann: Mapping[str, Any]) -> str:
    weights = str(ann.get(_lineage.WEIGHTS_URI, "?"))
    pin = ann.get(_lineage.WEIGHTS_VERSION) or ann.get(_lineage.WEIGHTS_DVC)
    parts = [
        f"version {ann.get(_lineage.VERSION, '?')}",
        f"image {ann.get(_lineage.IMAGE_DIGEST, '?')}",
        f"weights {weights}" + (f" @ {pin}" if pin else ""),
    ]
    if ann.get(_lineage.MLFLOW_RUN):
        parts.append(f"mlflow run {ann[_lineage.MLFLOW_RUN]}")
    return ", ".join(parts)


def _problems(ann: Mapping[str, Any], template: Mapping[str, Any], model: str, canary: bool) -> list[tuple[str, str]]:
    """(rule, fix) for each fact an auditor could not answer from these annotations."""
    key = f"serving.models.{model} in stacks/Pulumi.<stack>.yaml"
    out = [
        (f"no {k} annotation", "render lineage with components/_lineage.py") for k in _lineage.REQUIRED if k not in ann
    ]
    drift = [k for k in _lineage.ALL if ann.get(k) != template.get(k)]
    if drift:
        out.append(
            (f"pod template annotations differ from the Deployment's ({', '.join(drift)})", "set both from one dict")
        )
    if ann.get(_lineage.IMAGE_DIGEST) == _lineage.UNPINNED:
        out.append(
            (
                "the image is not pinned by digest, so the annotation cannot say which image served",
                f"set {'canary.' if canary else ''}image.digest ({key})",
            )
        )
    if ann.get(_lineage.VERSION) == _lineage.UNVERSIONED:
        out.append(("no model version is recorded", f"set lineage.version ({key})"))
    uri = str(ann.get(_lineage.WEIGHTS_URI, ""))
    if uri.startswith("s3://") and not (ann.get(_lineage.WEIGHTS_VERSION) or ann.get(_lineage.WEIGHTS_DVC)):
        out.append(
            (
                "S3 weights without an S3 version id or DVC hash: which bytes were loaded is not recorded",
                f"set lineage.weightsS3VersionId or lineage.dvcHash ({key})",
            )
        )
    return out


def analyse(plan: Plan, root: Path) -> AnalysisResult:
    """List every model Deployment's lineage; advisory findings for what it leaves unanswered."""
    del root
    result = AnalysisResult(NAME)
    models: dict[str, dict[str, Any]] = {}
    lines: list[str] = []
    for _, obj in k8s_objects(plan, "Deployment"):
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if MODEL_LABEL not in labels:
            continue
        ns, name = meta(obj)
        ann = dict((obj.get("metadata") or {}).get("annotations") or {})
        template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        where = f"Deployment {ns}/{name}"
        models[f"{ns}/{name}"] = {k: v for k, v in ann.items() if k.startswith(_lineage.PREFIX)}
        lines.append(f"{ns}/{name}: {_describe(ann)}")
        model = str(labels[MODEL_LABEL])
        for rule, fix in _problems(
            ann, template.get("annotations") or {}, model, labels.get("platform.ai/track") == "canary"
        ):
            result.findings.append(Finding(NAME, where, rule + ".", fix, blocking=False))
    result.checked = {"model deployments": len(models)}
    result.data = {"models": models, "report": sorted(lines)}
    return result
