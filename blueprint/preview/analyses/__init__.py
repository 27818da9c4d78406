"""Behaviour analyses of a plan: what the real system would *do* with what the program renders.

The policy pack checks each resource's shape. The analyses here check behaviour across resources
(admission, connectivity, metric contracts, the deploy path, estimates). Each analysis module exposes

    def analyse(plan: Plan, root: Path) -> AnalysisResult

and is listed in ``ANALYSES``. The preview runs every analysis after the policy pack; a finding with
``blocking=True`` fails the preview (exit 1) like a mandatory policy violation.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blueprint.preview.plan import Plan


@dataclass(frozen=True)
class Finding:
    """One behaviour problem: the object it concerns, the rule it breaks and how to fix it."""

    analysis: str
    """Which analysis found it (``admission``, ``connectivity``, ``metric-contract``, ``deploy-path``, ...)."""
    object: str
    """The object, e.g. ``Deployment serving/llama-3-8b container fetch-model`` or a workflow job."""
    rule: str
    """What the real system does with it, in one sentence."""
    fix: str
    """What to change, naming the file or config key where possible."""
    blocking: bool = True

    def line(self) -> str:
        """The one-line form the preview prints."""
        return f"{self.analysis}: {self.object}: {self.rule} Fix: {self.fix}"


@dataclass
class AnalysisResult:
    """What one analysis checked and found."""

    analysis: str
    checked: dict[str, int] = field(default_factory=dict)
    """What was checked, by kind, e.g. ``{"pod templates": 31}``: the report prints these counts."""
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    """Optional structured output that goes into the plan JSON (e.g. estimates)."""

    def public(self) -> dict[str, Any]:
        """The JSON form."""
        doc: dict[str, Any] = {"checked": dict(self.checked), "findings": [asdict(f) for f in self.findings]}
        if self.data:
            doc["data"] = self.data
        return doc


Analysis = Callable[["Plan", Path], AnalysisResult]

# Module paths, imported lazily so a preview pays only for what it runs. Each module has ``analyse``.
ANALYSES: list[str] = [
    "blueprint.preview.analyses.admission",
    "blueprint.preview.analyses.connectivity",
    "blueprint.preview.analyses.metric_contract",
    "blueprint.preview.analyses.eks_support",
    "blueprint.preview.analyses.deploy_path",
    "blueprint.preview.analyses.lineage",
    "blueprint.preview.analyses.schedulability",
]
# Estimates (docs/cost-and-time.md): cost, GPU cold start per model, cold deploy critical path.
ANALYSES += [
    "blueprint.preview.analyses.cost",
    "blueprint.preview.analyses.cold_start",
    "blueprint.preview.analyses.deploy_time",
]


def run_all(plan: Plan, root: Path) -> dict[str, AnalysisResult]:
    """Run every registered analysis on a plan."""
    results: dict[str, AnalysisResult] = {}
    # `make bench` times the preview with and without some analyses (comma-separated module paths).
    skip = set(filter(None, os.environ.get("BLUEPRINT_SKIP_ANALYSES", "").split(",")))
    for module in ANALYSES:
        if module in skip:
            continue
        fn: Analysis = importlib.import_module(module).analyse
        result = fn(plan, root)
        results[result.analysis] = result
    return results


def blocking(results: dict[str, AnalysisResult]) -> list[Finding]:
    """The findings that fail the preview."""
    return [f for r in results.values() for f in r.findings if f.blocking]
