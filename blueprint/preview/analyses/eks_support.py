"""EKS support policy: warn when a stack's Kubernetes version leaves standard support within 60 days.

Reads each EKS cluster's ``version`` and ``upgradePolicy.supportType`` from the plan and the dated
table in ``infra/eks_versions.py``. The finding is advisory: the stack still deploys today, but
with ``STANDARD`` EKS upgrades the control plane on its own at the end date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from blueprint.preview.analyses import AnalysisResult, Finding
from blueprint.preview.plan import Plan
from infra.eks_versions import support_warning

NAME = "eks-support"


def analyse(plan: Plan, root: Path, today: dt.date | None = None) -> AnalysisResult:
    """One advisory finding per cluster whose version nears (or passed) the end of standard support."""
    day = today or dt.datetime.now(dt.UTC).date()
    result = AnalysisResult(NAME)
    clusters = plan.by_type("aws:eks/cluster:Cluster")
    for r in clusters:
        version = str(r.inputs.get("version", ""))
        support = (r.inputs.get("upgradePolicy") or {}).get("supportType", "STANDARD")
        warning = support_warning(version, support, day)
        if warning:
            result.findings.append(
                Finding(
                    NAME,
                    f"EKS cluster {r.name} (version {version}, supportType {support})",
                    warning + ".",
                    "set cluster.version in stacks/Pulumi.<stack>.yaml to a newer version (or cluster.supportType: "
                    "EXTENDED to stay, at the extended-support price)",
                    blocking=False,
                )
            )
    result.checked = {"EKS clusters": len(clusters)}
    return result
