"""``cluster``: the EKS control plane."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from infra.config._base import (
    _ROLE_ARN,
    EKS_EXTENDED_SUPPORT_VERSIONS,
    EKS_STANDARD_SUPPORT_VERSIONS,
    _check_retention,
    _Model,
)

# --------------------------------------------------------------------------- cluster
EKS_ADDONS: tuple[str, ...] = (
    "vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver",
)  # fmt: skip


class ClusterConfig(_Model):
    """The EKS control plane."""

    version: str
    """Kubernetes minor version; must be in EKS standard support (extended support with ``supportType: EXTENDED``)."""
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """EKS version policy (``upgradePolicy.supportType``). ``STANDARD``: no extended-support charges, but EKS
    upgrades the control plane itself at the end of standard support (upgrade ``version`` before then;
    the preview and ``blueprint preflight`` warn 60 days ahead). ``EXTENDED``: the version stays for 12
    more months at the extended-support price."""
    endpoint_public_access: bool = False
    """Expose the public API endpoint. Off by default; needs ``publicAccessCidrs``; never in prod."""
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach the public endpoint. 0.0.0.0/0 is refused (``components.cluster.endpoint_problems``)."""
    admin_role_arns: list[str] = Field(default_factory=list)
    """IAM role ARNs granted cluster admin through access entries (the CI deploy role included)."""
    log_retention_days: int = 90
    """Retention of the control-plane log group, in days."""
    addon_versions: dict[str, str] = Field(default_factory=dict)
    """Pinned EKS add-on versions keyed by add-on name; unset ones take the EKS default for the version."""

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in EKS_EXTENDED_SUPPORT_VERSIONS:
            raise ValueError(f"allowed (EKS standard support): {', '.join(EKS_STANDARD_SUPPORT_VERSIONS)}")
        return v

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR") from None
        return v

    @field_validator("admin_role_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return v

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _check_retention(v)

    @field_validator("addon_versions")
    @classmethod
    def _addons(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(EKS_ADDONS))
        if unknown:
            raise ValueError(f"unknown add-on(s) {unknown}; allowed: {', '.join(EKS_ADDONS)}")
        return v
