"""``blueprint preflight STACK``: will this stack's ``pulumi up`` get through, before it waits 20 minutes?

Reads the stack's validated config and asks AWS, read-only:

- the caller's account is the stack's ``accountId`` (STS), and the caller acts as a role the cluster
  admits, those roles exist, and the AWS CLI v2 is on PATH (:mod:`readiness`);
- the environment is bootstrapped (its preview role exists) and the GitHub OIDC provider agrees with
  ``delivery.createOidcProvider`` (:mod:`readiness`);
- the region is enabled for the account and every configured AZ exists and is available;
- every node pool's instance types are offered in the pool's AZs (``DescribeInstanceTypeOfferings``);
- every GPU pool's types really have NVIDIA GPUs, as many as ``components.vocabulary.gpu_facts`` assumes
  (the cluster-autoscaler's scale-from-zero template uses that count) (``DescribeInstanceTypes``);
- the EC2 vCPU quotas of the GPU families, per capacity type, cover every GPU pool at its
  ``maxSize`` (Service Quotas); a Karpenter pool counts with every family x size and capacity type it
  allows, and a Karpenter pool that allows Spot needs the EC2 Spot service-linked role;
- the cluster's Kubernetes version is in EKS standard support for more than 60 days, or what EKS does
  at its end under ``cluster.supportType`` (``DescribeClusterVersions``, else :mod:`eks_support`);
- every model's image is in the stack's ECR and its weights are under its S3 prefix (:mod:`readiness`).

Prints one OK / WARN / FAIL row per check with the reason. Exit codes: 0 ready (warnings allowed),
1 a check failed or an error, 2 usage error, 3 (:data:`EXIT_NOT_BOOTSTRAPPED`) the environment has not
been bootstrapped yet (the last stderr line starts ``not bootstrapped:``), unless ``--first-deploy``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from blueprint.ops import eks_support, readiness
from blueprint.ops._aws import (
    EXIT_ERROR,
    EXIT_OK,
    OpsError,
    Row,
    add_common_arguments,
    connect_from_args,
    error_code,
    explain,
    guarded,
    load_stack_config,
    print_rows,
    stderr,
    stdout,
)
from infra.config import NodePoolSettings, PlatformConfig, gpu_facts, preview_role_name

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


EXIT_NOT_BOOTSTRAPPED = 3
"""The environment has not been bootstrapped (no preview role, or no GitHub OIDC provider to assume it
with): the deploy workflow skips it with a notice. Usage errors stay 2 and failures 1."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preflight`` to the CLI."""
    p = subparsers.add_parser(
        "preflight",
        help="check identity, bootstrap, capacity, the EKS version and the models' images and weights before `up`",
        description="Read-only checks of a stack's AWS prerequisites. Exit codes: 0 ready (warnings allowed), "
        "1 a check failed, 2 usage error, 3 the environment is not bootstrapped (no preview role yet).",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--profile", help="AWS profile (default: the ambient credentials)")
    p.add_argument(
        "--first-deploy",
        action="store_true",
        help="the administrator's first up: resources that up creates (preview role, registry, bucket) may be "
        "missing; exit 3 is not used",
    )
    p.add_argument(
        "--artifact-bucket",
        metavar="NAME",
        help="the stack's artifact bucket (stack output artifactBucket); default: the one bucket named "
        "ai-platform-<stack>-artifacts-*",
    )
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


@dataclass(frozen=True)
class Outcome:
    """Every check's row, and whether the environment is bootstrapped."""

    checks: list[Check]
    bootstrapped: bool


def run(args: argparse.Namespace) -> int:
    """The ``preflight`` handler."""
    cfg = load_stack_config(args.stack)
    aws = connect_from_args(args, cfg.region, args.profile)
    try:
        outcome = run_checks(
            cfg, aws.client, stack=args.stack, first_deploy=args.first_deploy, artifact_bucket=args.artifact_bucket
        )
    except ClientError as exc:
        return _web_identity_failure(exc, args.stack, cfg)
    checks = outcome.checks
    title = f"preflight {args.stack} ({cfg.account_id}, {cfg.region})"
    print_rows(title, ("check", "status", "reason"), checks, {OK: "green", WARN: "yellow", FAIL: "bold red"})
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL)}
    # The table folds long reasons; each problem again on one line, whole, for logs and grep.
    for c in checks:
        if c.status != OK:
            stdout().print(f"{c.status} {c.name}: {c.detail}", markup=False)
    stdout().print(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)")
    if not outcome.bootstrapped and not args.first_deploy:
        role = preview_role_name(cfg.stack)
        stderr().print(
            f"not bootstrapped: {args.stack} has no {role} in account {cfg.account_id} yet; an administrator's first "
            "`pulumi up` creates it (README, first deploy); until then CI skips this environment",
            markup=False,
        )
        return EXIT_NOT_BOOTSTRAPPED
    return EXIT_ERROR if counts[FAIL] else EXIT_OK


def _web_identity_failure(exc: ClientError, stack: str, cfg: PlatformConfig) -> int:
    """Credentials from a GitHub OIDC token (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) could not be had."""
    if exc.operation_name != "AssumeRoleWithWebIdentity":
        raise exc
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if error_code(exc) == "InvalidIdentityToken" and "No OpenIDConnect provider found" in message:
        stderr().print(
            f"not bootstrapped: account {cfg.account_id} of {stack} has no GitHub OIDC provider yet; an "
            "administrator's first `pulumi up` creates it and the preview role (README, first deploy)",
            markup=False,
        )
        return EXIT_NOT_BOOTSTRAPPED
    if error_code(exc) == "AccessDenied":
        # AWS answers the same for a missing role and for a trust policy that does not match: not a skip.
        raise OpsError(
            f"could not assume the role with the GitHub OIDC token ({explain(exc)}): either {stack} is not "
            "bootstrapped (the role does not exist) or the role's trust policy does not admit this workflow's "
            "subject (repository, branch or environment)"
        ) from None
    raise exc


def run_checks(
    cfg: PlatformConfig,
    clients: Clients,
    *,
    stack: str | None = None,
    first_deploy: bool = False,
    artifact_bucket: str | None = None,
    today: dt.date | None = None,
) -> Outcome:
    """Every check, in order. Credential problems abort (nothing else could work); other API errors
    become FAIL rows so the remaining checks still run."""
    stack = stack or cfg.environment.value
    ident = clients("sts").get_caller_identity()
    checks = [check_account(cfg, ident)]
    bootstrapped = True
    if ident["Account"] == cfg.account_id:
        # Who runs the up, what the first up left behind: only meaningful in the stack's own account.
        who, iam = readiness.caller(ident), clients("iam")
        checks += _guard("admission", lambda: readiness.check_admission(cfg, who, iam))
        checks.append(readiness.check_aws_cli())
        try:
            bootstrapped, row = readiness.is_bootstrapped(cfg, who, iam)
        except ClientError as exc:
            row = Check("bootstrap", FAIL, f"could not check: {explain(exc)}")
        if not bootstrapped and first_deploy:
            row = Check(row.name, OK, "not yet: this first up creates the preview role")
        checks.append(row)
        if cfg.delivery.enabled:
            checks += _guard("github oidc provider", lambda: [readiness.check_oidc_provider(cfg, stack, iam)])
    checks += _capacity(cfg, clients)
    support_type = getattr(cfg.cluster, "support_type", None)  # cluster.supportType, once the config has it
    checks.append(check_kubernetes_version(cfg.cluster.version, clients("eks"), support_type, today))
    if ident["Account"] == cfg.account_id:
        ecr, s3 = clients("ecr"), clients("s3")
        checks += _guard("model images", lambda: readiness.check_images(cfg, stack, ecr, first_deploy=first_deploy))
        checks += _guard(
            "model weights",
            lambda: readiness.check_weights(cfg, stack, s3, artifact_bucket, first_deploy=first_deploy),
        )
    return Outcome(checks, bootstrapped)


def _capacity(cfg: PlatformConfig, clients: Clients) -> list[Check]:
    """Region, AZs, instance offerings and types, GPU quotas."""
    ec2 = clients("ec2")
    checks = _guard("region", lambda: check_region(cfg, ec2))
    checks += _guard("availability zones", lambda: check_azs(cfg, ec2))
    pools = cfg.resolved_node_pools()
    vcpus: dict[str, int] = {}
    checks += _guard("instance type offerings", lambda: check_offerings(pools.values(), ec2))
    # Karpenter may launch any allowed family x size with any allowed capacity type: check them all.
    launchable = karpenter_launchable(pools.values())
    checks += _guard("instance types", lambda: check_instance_types(launchable, ec2, vcpus))
    checks += check_quotas(launchable, vcpus, clients("service-quotas"))
    if any(p.karpenter and "spot" in p.karpenter.capacity_types for p in pools.values()):
        checks += _guard("spot service-linked role", lambda: [check_spot_role(clients("iam"))])
    return checks


def karpenter_launchable(pools: Iterable[NodePoolSettings]) -> list[NodePoolSettings]:
    """Pools as what can launch: a Karpenter pool once per capacity type, with every family x size it allows."""
    out: list[NodePoolSettings] = []
    for pool in pools:
        k = pool.karpenter
        if k is None:
            out.append(pool)
            continue
        types = tuple(f"{f}.{z}" for f in k.instance_families for z in k.instance_sizes if gpu_facts(f"{f}.{z}"))
        for ct in k.capacity_types:
            capacity = "SPOT" if ct == "spot" else "ON_DEMAND"
            out.append(dataclasses.replace(pool, instance_types=types or pool.instance_types, capacity_type=capacity))
    return out


SPOT_ROLE = "AWSServiceRoleForEC2Spot"


def check_spot_role(iam: Any) -> Check:
    """Karpenter launches Spot through CreateFleet, which needs the EC2 Spot service-linked role; EC2 creates it
    on first use only for callers allowed iam:CreateServiceLinkedRole (Karpenter's role is not)."""
    try:
        iam.get_role(RoleName=SPOT_ROLE)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        return Check(
            "spot service-linked role",
            FAIL,
            f"{SPOT_ROLE} is missing: run `aws iam create-service-linked-role --aws-service-name spot.amazonaws.com`",
        )
    return Check("spot service-linked role", OK, f"{SPOT_ROLE} exists")


def _guard(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    try:
        return fn()
    except ClientError as exc:
        return [Check(name, FAIL, f"could not check: {explain(exc)}")]


def check_account(cfg: PlatformConfig, ident: dict[str, Any]) -> Check:
    """The caller's account is the one the stack may deploy to."""
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


def check_offerings(pools: Iterable[NodePoolSettings], ec2: Any) -> list[Check]:
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


def check_instance_types(pools: Iterable[NodePoolSettings], ec2: Any, vcpus: dict[str, int]) -> list[Check]:
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
                    "(fix GPU_FAMILIES in components/vocabulary.py: the autoscaler template uses it)"
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


def check_quotas(pools: Iterable[NodePoolSettings], vcpus: dict[str, int], quotas: Any) -> list[Check]:
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


def check_kubernetes_version(
    version: str, eks: Any, support_type: str | None = None, today: dt.date | None = None
) -> Check:
    """How long the cluster version stays in EKS standard support, and what EKS does after that under the
    stack's ``cluster.supportType``: asked of EKS, the dated calendar in :mod:`eks_support` as a fallback."""
    name = f"kubernetes {version}"
    today = today or dt.datetime.now(dt.UTC).date()
    policy = support_type or "STANDARD"
    try:
        found = eks.describe_cluster_versions(clusterVersions=[version], includeAll=True).get("clusterVersions", [])
    except ClientError as exc:
        verdict = eks_support.judge(version, eks_support.SUPPORT_CALENDAR.get(version), support_type, today)
        why = f"(EKS not asked: {error_code(exc) or 'error'}; offline calendar)"
        return Check(name, verdict.status, f"{verdict.detail} {why}")
    entry = next((v for v in found if v.get("clusterVersion") == version), None)
    if entry is None:
        return Check(name, FAIL, "EKS does not offer this version")
    status = entry.get("versionStatus") or entry.get("status")
    if status in ("STANDARD_SUPPORT", "standard-support"):
        support = eks_support.from_eks(entry) or eks_support.SUPPORT_CALENDAR.get(version)
        verdict = eks_support.judge(version, support, support_type, today)
        return Check(name, verdict.status, verdict.detail)
    if status in ("EXTENDED_SUPPORT", "extended-support"):
        if policy == "EXTENDED":
            return Check(name, WARN, "extended support only: extra hourly cost; plan the upgrade")
        return Check(
            name,
            FAIL,
            "extended support only, and supportType is STANDARD: EKS upgrades the control plane by itself; set "
            "cluster.version to the next version (or cluster.supportType: EXTENDED)",
        )
    return Check(name, FAIL, f"EKS status {status}: not supported")
