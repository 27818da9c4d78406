"""When does a stack's Kubernetes version leave EKS standard support, and what happens then?

``preflight`` asks EKS (``DescribeClusterVersions``) and falls back to :data:`SUPPORT_CALENDAR`, a dated
copy of the EKS Kubernetes release calendar, when the API is not reachable or not allowed.

Why it matters: with ``upgradePolicy.supportType = STANDARD`` EKS upgrades the control plane to the next
minor version by itself at the end of standard support; the stack's pinned ``cluster.version`` then lags
the real cluster and the next ``pulumi up`` tries a downgrade that EKS refuses. With ``EXTENDED`` the
cluster stays, at the extended-support hourly price, until the end of extended support
(https://docs.aws.amazon.com/eks/latest/userguide/view-support-status.html and
https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from infra.eks_versions import EKS_VERSIONS

WARN_DAYS = 60
"""Warn when standard support ends within this many days."""


@dataclass(frozen=True)
class VersionSupport:
    """The support window of one EKS Kubernetes minor version."""

    end_of_standard: dt.date
    end_of_extended: dt.date


# The EKS release calendar has one offline home, infra/eks_versions.py (dated and sourced there; the
# config and the preview's warning read it too). A version without published dates gets a warning
# that its dates are unknown offline, never a silent OK.
SUPPORT_CALENDAR: dict[str, VersionSupport] = {
    v.version: VersionSupport(v.end_of_standard, v.end_of_extended)
    for v in EKS_VERSIONS.values()
    if v.end_of_standard is not None and v.end_of_extended is not None
}


@dataclass(frozen=True)
class Verdict:
    """OK / WARN / FAIL and why."""

    status: str
    detail: str


def from_eks(entry: dict[str, Any]) -> VersionSupport | None:
    """The window from a ``DescribeClusterVersions`` entry (dates may be missing for new versions)."""
    std, ext = entry.get("endOfStandardSupportDate"), entry.get("endOfExtendedSupportDate")
    if not isinstance(std, dt.datetime):
        return None
    end_ext = ext.date() if isinstance(ext, dt.datetime) else std.date() + dt.timedelta(days=365)
    return VersionSupport(std.date(), end_ext)


def judge(version: str, support: VersionSupport | None, support_type: str | None, today: dt.date) -> Verdict:
    """The verdict for ``version`` on ``today`` under the stack's ``cluster.supportType``."""
    policy = support_type or "STANDARD"
    unset = "" if support_type else " (cluster.supportType unset: the cluster uses STANDARD)"
    if support is None:
        return Verdict(
            "WARN",
            f"no support dates known offline for {version}; check the EKS calendar "
            "(https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html)",
        )
    std, ext = support.end_of_standard, support.end_of_extended
    if today >= ext:
        return Verdict("FAIL", f"extended support ended {ext:%Y-%m-%d}: EKS has upgraded or will upgrade it")
    if today >= std:
        if policy == "EXTENDED":
            return Verdict("WARN", f"in extended support (extra hourly charge) until {ext:%Y-%m-%d}; upgrade")
        return Verdict(
            "FAIL",
            f"standard support ended {std:%Y-%m-%d} and supportType is STANDARD{unset}: EKS upgrades the control "
            "plane by itself; set cluster.version to the next version (or supportType: EXTENDED) before the next up",
        )
    left = (std - today).days
    if left > WARN_DAYS:
        return Verdict("OK", f"standard support until {std:%Y-%m-%d} ({left} days)")
    if policy == "EXTENDED":
        return Verdict(
            "WARN",
            f"standard support ends {std:%Y-%m-%d} (in {left} days); extended support (extra hourly charge) "
            f"then runs to {ext:%Y-%m-%d}: plan the upgrade",
        )
    return Verdict(
        "WARN",
        f"standard support ends {std:%Y-%m-%d} (in {left} days) and supportType is STANDARD{unset}: EKS then "
        "upgrades the control plane by itself and the pinned cluster.version would ask for a downgrade EKS "
        "refuses; upgrade cluster.version before then, or set cluster.supportType: EXTENDED",
    )
