"""``blueprint preflight STACK``: will this stack's GPU capacity exist before ``pulumi up`` waits 20 minutes?

Reads the stack's validated config and asks AWS, read-only:

- the caller's account is the stack's ``accountId`` (STS);
- the region is enabled for the account and every configured AZ exists and is available;
- every node pool's instance types are offered in the pool's AZs (``DescribeInstanceTypeOfferings``);
- every GPU pool's types really have NVIDIA GPUs, as many as ``infra.config.gpu_facts`` assumes
  (the cluster-autoscaler's scale-from-zero template uses that count) (``DescribeInstanceTypes``);
- the EC2 vCPU quotas of the GPU families, per capacity type, cover every GPU pool at its
  ``maxSize`` (Service Quotas);
- the cluster's Kubernetes version is in EKS standard support (``DescribeClusterVersions``).

Prints one OK / WARN / FAIL row per check with the reason and exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from blueprint.ops._aws import (
    EXIT_ERROR,
    EXIT_OK,
    Row,
    add_common_arguments,
    connect_from_args,
    error_code,
    explain,
    guarded,
    load_stack_config,
    print_rows,
    stdout,
)
from infra.config import EKS_STANDARD_SUPPORT_VERSIONS, NodePool, PlatformConfig

OK, WARN, FAIL = "OK", "WARN", "FAIL"

Clients = Callable[[str], Any]
"""``service name -> boto3 client`` (tests substitute stubbed clients)."""


@dataclass(frozen=True)
class Quota:
    """An EC2 vCPU quota in Service Quotas."""

    code: str
    name: str


# EC2 vCPU quotas by (family group, capacity type). Codes as listed by
# `aws service-quotas list-service-quotas --service-code ec2`; the P spot quota was split:
# L-7212CCBC is now "All P4, P3 and P2 Spot Instance Requests" and P5 has its own
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html).
QUOTAS: dict[tuple[str, str], Quota] = {
    ("G", "ON_DEMAND"): Quota("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("G", "SPOT"): Quota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", "ON_DEMAND"): Quota("L-417A185B", "Running On-Demand P instances"),
    ("P", "SPOT"): Quota("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests"),
    ("P5", "ON_DEMAND"): Quota("L-417A185B", "Running On-Demand P instances"),
    ("P5", "SPOT"): Quota("L-C4BD4855", "All P5 Spot Instance Requests"),
}


Check = Row
"""One preflight result: check name, OK/WARN/FAIL, and the reason."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preflight`` to the CLI."""
    p = subparsers.add_parser(
        "preflight",
        help="check account, AZs, GPU instance offerings, vCPU quotas and the EKS version before `pulumi up`",
        description="Read-only checks of a stack's AWS prerequisites; exits 1 on any FAIL.",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--profile", help="AWS profile (default: the ambient credentials)")
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


def run(args: argparse.Namespace) -> int:
    """The ``preflight`` handler."""
    cfg = load_stack_config(args.stack)
    aws = connect_from_args(args, cfg.region, args.profile)
    checks = run_checks(cfg, aws.client)
    title = f"preflight {args.stack} ({cfg.account_id}, {cfg.region})"
    print_rows(title, ("check", "status", "reason"), checks, {OK: "green", WARN: "yellow", FAIL: "bold red"})
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL)}
    stdout().print(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)")
    return EXIT_ERROR if counts[FAIL] else EXIT_OK


def run_checks(cfg: PlatformConfig, clients: Clients) -> list[Check]:
    """Every check, in order. Credential problems abort (nothing else could work); other API errors
    become FAIL rows so the remaining checks still run."""
    checks = [check_account(cfg, clients("sts"))]
    ec2 = clients("ec2")
    checks += _guard("region", lambda: check_region(cfg, ec2))
    checks += _guard("availability zones", lambda: check_azs(cfg, ec2))
    pools = cfg.resolved_node_pools()
    vcpus: dict[str, int] = {}
    checks += _guard("instance type offerings", lambda: check_offerings(pools.values(), ec2))
    checks += _guard("instance types", lambda: check_instance_types(pools.values(), ec2, vcpus))
    checks += check_quotas(pools.values(), vcpus, clients("service-quotas"))
    checks.append(check_kubernetes_version(cfg.cluster.version, clients("eks")))
    return checks


def _guard(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    try:
        return fn()
    except ClientError as exc:
        return [Check(name, FAIL, f"could not check: {explain(exc)}")]


def check_account(cfg: PlatformConfig, sts: Any) -> Check:
    """The caller's account is the one the stack may deploy to."""
    ident = sts.get_caller_identity()
    if ident["Account"] == cfg.account_id:
        return Check("account", OK, f"{ident['Arn']}")
    return Check(
        "account",
        FAIL,
        f"credentials are for account {ident['Account']} ({ident['Arn']}); the stack deploys to {cfg.account_id}",
    )


def check_region(cfg: PlatformConfig, ec2: Any) -> list[Check]:
    """The region exists and is enabled for the account."""
    regions = {r["RegionName"]: r for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    region = regions.get(cfg.region)
    if region is None:
        return [Check(f"region {cfg.region}", FAIL, "no such region")]
    if region.get("OptInStatus") == "not-opted-in":
        return [Check(f"region {cfg.region}", FAIL, "an opt-in region that this account has not enabled")]
    return [Check(f"region {cfg.region}", OK, str(region.get("OptInStatus", "enabled")))]


def check_azs(cfg: PlatformConfig, ec2: Any) -> list[Check]:
    """Every configured AZ exists in the region and is available."""
    zones = {
        z["ZoneName"]: z["State"]
        for z in ec2.describe_availability_zones(Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])[
            "AvailabilityZones"
        ]
    }
    wanted = cfg.network.availability_zones
    missing = [z for z in wanted if z not in zones]
    unavailable = [z for z in wanted if z in zones and zones[z] != "available"]
    if missing or unavailable:
        why = []
        if missing:
            why.append(f"not in {cfg.region}: {', '.join(missing)}")
        if unavailable:
            why.append(f"not available: {', '.join(f'{z} ({zones[z]})' for z in unavailable)}")
        why.append(f"the region has {', '.join(sorted(zones))}")
        return [Check("availability zones", FAIL, "; ".join(why))]
    return [Check("availability zones", OK, ", ".join(wanted))]


def check_offerings(pools: Iterable[NodePool], ec2: Any) -> list[Check]:
    """Each pool's instance types are offered in the pool's AZs."""
    pools = list(pools)
    types = sorted({t for p in pools for t in p.instance_types})
    offered: dict[str, set[str]] = defaultdict(set)
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}]
    )
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            offered[o["InstanceType"]].add(o["Location"])
    out = []
    for pool in pools:
        azs = set(pool.availability_zones)
        problems, partial = [], []
        for t in pool.instance_types:
            gaps = sorted(azs - offered[t])
            if gaps == sorted(azs):
                problems.append(f"{t} is offered in none of {', '.join(sorted(azs))}")
            elif gaps:
                partial.append(f"{t} not offered in {', '.join(gaps)}")
        name = f"pool {pool.name}: offerings"
        if problems and len(problems) == len(pool.instance_types):
            out.append(Check(name, FAIL, "; ".join(problems)))
        elif problems or partial:
            # Some capacity remains: the managed node group launches the other types/AZs.
            out.append(Check(name, WARN, "; ".join(problems + partial) + "; capacity is limited to the rest"))
        else:
            out.append(Check(name, OK, f"{', '.join(pool.instance_types)} in {', '.join(sorted(azs))}"))
    return out


def check_instance_types(pools: Iterable[NodePool], ec2: Any, vcpus: dict[str, int]) -> list[Check]:
    """GPU pools' types have the NVIDIA GPUs the config assumes. Fills ``vcpus`` (type -> vCPUs)."""
    pools = list(pools)
    types = sorted({t for p in pools for t in p.instance_types})
    info: dict[str, dict[str, Any]] = {}
    try:
        for page in ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=types):
            info.update({i["InstanceType"]: i for i in page["InstanceTypes"]})
    except ClientError as exc:
        if error_code(exc) != "InvalidInstanceType":
            raise
        return [Check("instance types", FAIL, " ".join(str(exc.response["Error"].get("Message", "")).split()))]
    vcpus.update({t: int(i["VCpuInfo"]["DefaultVCpus"]) for t, i in info.items()})
    out = []
    for pool in pools:
        if not pool.gpu:
            continue
        problems, seen = [], []
        for t in pool.instance_types:
            gpus = list((info.get(t, {}).get("GpuInfo") or {}).get("Gpus", []))
            nvidia = sum(int(g.get("Count", 0)) for g in gpus if g.get("Manufacturer") == "NVIDIA")
            if t not in info:
                problems.append(f"{t} is unknown to EC2")
            elif not nvidia:
                problems.append(f"{t} has no NVIDIA GPUs")
            elif nvidia != pool.gpus_per_node:
                problems.append(
                    f"{t} has {nvidia} GPUs, the config assumes {pool.gpus_per_node} "
                    "(fix GPU_FAMILIES in infra/config.py: the autoscaler template uses it)"
                )
            else:
                seen.append(f"{t}: {nvidia} × {gpus[0].get('Name', '?')}, {vcpus[t]} vCPUs")
        name = f"pool {pool.name}: GPUs"
        out.append(Check(name, FAIL, "; ".join(problems)) if problems else Check(name, OK, "; ".join(seen)))
    return out


def quota_group(instance_type: str) -> str | None:
    """The vCPU quota family group of an instance type: G (G and VT), P, P5, or None (not a GPU family)."""
    family = instance_type.split(".")[0]
    if family.startswith("p5"):
        return "P5"
    if family.startswith("p"):
        return "P"
    if family.startswith(("g", "vt")):
        return "G"
    return None


def check_quotas(pools: Iterable[NodePool], vcpus: dict[str, int], quotas: Any) -> list[Check]:
    """GPU pools at maxSize fit the account's vCPU quotas, summed per quota."""
    need: dict[str, int] = defaultdict(int)
    who: dict[str, list[str]] = defaultdict(list)
    quota_of: dict[str, Quota] = {}
    for pool in pools:
        if not pool.gpu:
            continue
        # A pool may launch its largest type: count max nodes at the largest vCPU size.
        per_node = max((vcpus.get(t, 0) for t in pool.instance_types), default=0)
        groups = {quota_group(t) for t in pool.instance_types} - {None}
        for group in sorted(g for g in groups if g):
            q = QUOTAS[(group, pool.capacity_type)]
            quota_of[q.code] = q
            need[q.code] += pool.max_size * per_node
            who[q.code].append(f"{pool.name} {pool.max_size}×{per_node}")
    out = []
    for code, needed in need.items():
        q = quota_of[code]
        name = f"quota {q.name}"
        try:
            value = float(quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
        except ClientError as exc:
            # No quota, no verdict: warn (the role may lack servicequotas:GetServiceQuota).
            out.append(Check(name, WARN, f"could not read {code} ({error_code(exc)}); needs {needed} vCPUs"))
            continue
        detail = f"needs {needed} vCPUs ({', '.join(who[code])}), quota {value:g} ({code})"
        if needed > value:
            out.append(Check(name, FAIL, detail + "; request an increase in Service Quotas"))
        else:
            # The quota is shared with everything else running in the account and region.
            out.append(Check(name, OK, detail + "; shared with other workloads in the account"))
    return out


def check_kubernetes_version(version: str, eks: Any) -> Check:
    """The cluster version is in EKS standard support (asked of EKS; the static list as a fallback)."""
    name = f"kubernetes {version}"
    try:
        found = eks.describe_cluster_versions(clusterVersions=[version], includeAll=True).get("clusterVersions", [])
    except ClientError as exc:
        known = version in EKS_STANDARD_SUPPORT_VERSIONS
        source = f"could not ask EKS ({error_code(exc) or 'error'}); the static list in infra/config.py"
        verdict = "has it in standard support" if known else f"allows only {', '.join(EKS_STANDARD_SUPPORT_VERSIONS)}"
        return Check(name, WARN, f"{source} {verdict}")
    entry = next((v for v in found if v.get("clusterVersion") == version), None)
    if entry is None:
        return Check(name, FAIL, "EKS does not offer this version")
    status = entry.get("versionStatus") or entry.get("status")
    end = entry.get("endOfStandardSupportDate")
    until = f" until {end:%Y-%m-%d}" if hasattr(end, "strftime") else ""
    if status in ("STANDARD_SUPPORT", "standard-support"):
        return Check(name, OK, f"standard support{until}")
    if status in ("EXTENDED_SUPPORT", "extended-support"):
        return Check(name, WARN, "extended support only: extra hourly cost; plan the upgrade")
    return Check(name, FAIL, f"EKS status {status}: not supported")
