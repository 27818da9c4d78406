"""Drift evaluation: how far a model's live inputs have moved from its reference data.

``model_drift_score`` is the mean over the shared columns of the Jensen–Shannon distance
(base 2, so in [0, 1]) between the reference and current distributions of each column:
numeric columns are binned on the reference's quantiles, categorical columns compared per value.
0 means the same distribution, 1 completely disjoint ones. The alert threshold is 0.3
(components/rules/drift.yaml).
"""

from drift_eval.core import DriftError, DriftReport, FeatureDrift, evaluate, load_table

__all__ = ["DriftError", "DriftReport", "FeatureDrift", "evaluate", "load_table"]
