"""EKS Kubernetes versions and their support dates: one offline, dated table.

Sources (checked 2026-12-02): the EKS Kubernetes release calendar,
https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html ("standard support for
the first 14 months after release, then extended support for 12 months"), cross-checked with
https://endoflife.date/amazon-eks. Update the table when EKS publishes a version; the config, the
preview's warning and ``blueprint preflight`` all read it from here.

What EKS does at the end of standard support depends on the cluster's ``upgradePolicy.supportType``
(https://docs.aws.amazon.com/eks/latest/userguide/extended-support-control.html): ``STANDARD``
auto-upgrades the control plane to the next version (the stack's pinned ``version`` then lags the
real cluster, and the next ``up`` asks for a downgrade EKS refuses); ``EXTENDED`` keeps the version
for 12 more months at the extended-support price.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

SupportType = Literal["STANDARD", "EXTENDED"]

TABLE_DATE = dt.date(2026, 12, 2)
"""The day the table was last checked against the sources."""

WARN_DAYS = 60
"""Warn when a stack's version leaves standard support within this many days."""


@dataclass(frozen=True)
class EksVersion:
    """One Kubernetes minor version on EKS."""

    version: str
    released: dt.date | None
    end_of_standard: dt.date | None
    """None: not published in the sources yet (a version newer than the table)."""
    end_of_extended: dt.date | None


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


EKS_VERSIONS: dict[str, EksVersion] = {
    v.version: v
    for v in (
        EksVersion("1.30", _d("2024-05-23"), _d("2025-07-23"), _d("2026-07-23")),
        EksVersion("1.31", _d("2024-09-26"), _d("2025-11-26"), _d("2026-11-26")),
        EksVersion("1.32", _d("2025-01-23"), _d("2026-03-23"), _d("2027-03-23")),
        EksVersion("1.33", _d("2025-05-29"), _d("2026-07-29"), _d("2027-07-29")),
        EksVersion("1.34", _d("2025-10-02"), _d("2026-12-02"), _d("2027-12-02")),
        EksVersion("1.35", _d("2026-01-27"), _d("2027-03-27"), _d("2028-03-27")),
        # Listed by EKS, but its calendar dates were not in the sources checked on TABLE_DATE.
        EksVersion("1.36", None, None, None),
    )
}


# The oldest version the platform's pinned add-ons cover (components/cluster_autoscaler.py IMAGE_TAGS).
PLATFORM_MIN_VERSION = "1.34"


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def supported_versions(support_type: SupportType, on: dt.date = TABLE_DATE) -> tuple[str, ...]:
    """Versions a stack may pin under this support policy on a given day (support ends after its end date)."""
    out = []
    for v in EKS_VERSIONS.values():
        end = v.end_of_standard if support_type == "STANDARD" else v.end_of_extended
        if _minor(v.version) >= _minor(PLATFORM_MIN_VERSION) and (end is None or end >= on):
            out.append(v.version)
    return tuple(out)


def support_warning(version: str, support_type: SupportType, today: dt.date) -> str | None:
    """A one-line warning when ``version`` leaves standard support within WARN_DAYS of ``today``, else None."""
    v = EKS_VERSIONS.get(version)
    if v is None or v.end_of_standard is None:
        return (
            f"EKS {version}: no end-of-standard-support date in infra/eks_versions.py (table of {TABLE_DATE}); "
            "check the EKS release calendar and update the table"
        )
    days = (v.end_of_standard - today).days
    if days > WARN_DAYS:
        return None
    when = f"in {days} day(s), on {v.end_of_standard}" if days >= 0 else f"on {v.end_of_standard} ({-days} day(s) ago)"
    if support_type == "STANDARD":
        effect = (
            "with supportType STANDARD, EKS then upgrades the control plane on its own and the next `up` "
            "asks for a downgrade EKS refuses"
        )
    else:
        effect = f"with supportType EXTENDED, extended-support charges apply until {v.end_of_extended}"
    return f"EKS {version} leaves standard support {when}; {effect}. Upgrade cluster.version before then"
