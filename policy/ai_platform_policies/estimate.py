"""Monthly cost estimate of a stack, from its resources' inputs and a dated price table.

One implementation serves two callers: the ``cost-monthly-caps`` stack policy of this pack (which
must run alone under the Pulumi CLI, so nothing here imports the blueprint tool or the program), and
``blueprint.preview.analyses.cost``, which turns the same estimate into the preview's ``estimates.cost``.
Both hand in the resources as ``PolicyResource`` objects (type, props, urn, name, parent,
dependencies): the CLI builds them for stack policies, ``blueprint.preview.policy_eval`` builds them offline.

Two figures per stack (docs/cost-and-time.md):
- *idle*: node groups at ``minSize`` (or what the models' minimum replicas need, if more);
- *ceiling*: node groups at ``maxSize`` priced at their dearest instance type.

Prices come from ``prices/<region>.json`` (``blueprint prices refresh`` rewrites it). Usage the
resources cannot tell (NAT and endpoint traffic, log ingestion, S3 storage, ALB LCUs) comes from the
stated ``assumptions`` in policy config. A resource type that costs money but has no price here is
listed under ``unpriced``; only the types in ``FREE`` count as $0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._fleet import (  # the estimator's public surface: callers import these from here
    LAUNCH_TEMPLATE,
    NODE_GROUP,
    NODECLASS,
    NODEPOOL,
    Workload,
    _chart,
    _dep_of_type,
    _num,
    gib,
    gpu_workloads,
    karpenter_pools,
    node_groups,
    pod_gpus,
    schedulable_on,
    time_slicing_replicas,
)
from ._pricing import _PRICERS, Estimate, Item, _Context, component_of, money

__all__ = [
    "DEFAULT_ASSUMPTIONS",
    "FREE",
    "LAUNCH_TEMPLATE",
    "NODECLASS",
    "NODEPOOL",
    "NODE_GROUP",
    "PRICES_DIR",
    "REFERENCE_REGION",
    "Estimate",
    "Item",
    "PriceTableError",
    "Workload",
    "_chart",
    "_dep_of_type",
    "assumptions_from",
    "component_of",
    "estimate",
    "gib",
    "gpu_workloads",
    "karpenter_pools",
    "load_prices",
    "load_prices_for",
    "money",
    "node_groups",
    "pod_gpus",
    "region_of",
    "schedulable_on",
    "time_slicing_replicas",
]

PRICES_DIR = Path(__file__).resolve().parent / "prices"

# Types AWS does not bill for (or bills only through another line item priced here).
FREE: frozenset[str] = frozenset(
    {
        "aws:autoscaling/tag:Tag",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/flowLog:FlowLog",  # billed as log ingestion of its log group
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",  # its volumes are priced with the node group
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/route:Route",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/registryPolicy:RegistryPolicy",
        "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration",
        "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:eks/addon:Addon",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
    }
)

# Usage the resources cannot tell; policy config ``cost-monthly-caps.assumptions`` overrides each.
DEFAULT_ASSUMPTIONS: dict[str, float] = {
    "natProcessedGbPerMonth": 100.0,
    "interfaceEndpointProcessedGbPerMonth": 50.0,
    "logIngestGbPerMonthPerGroup": 5.0,
    "s3StoredGbPerBucket": 100.0,
    "albLcuPerHour": 1.0,
}


class PriceTableError(ValueError):
    """The price table for a region is missing or malformed."""


def _shown(path: Path) -> str:
    """``path`` as the repository names it (``policy/<pack>/prices/<region>.json``): messages end up in plans and
    snapshots, which must not depend on where the checkout lives."""
    try:
        return str(path.resolve().relative_to(PRICES_DIR.resolve().parents[2]))
    except ValueError:
        return path.name


def load_prices(region: str, directory: Path = PRICES_DIR) -> dict[str, Any]:
    """The committed price table of ``region``."""
    path = directory / f"{region}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json"))) or "none"
        raise PriceTableError(
            f"no price table for region {region!r} ({_shown(path)}); known: {known}. "
            f"Create it with `blueprint prices refresh --region {region}`"
        )
    doc = json.loads(path.read_text())
    for key in ("region", "date", "hoursPerMonth", "instances", "prices", "spot"):
        if key not in doc:
            raise PriceTableError(f"{_shown(path)}: missing key {key!r}")
    return dict(doc)


REFERENCE_REGION = "us-west-2"
"""The region whose table prices a stack in a region that has none yet (an approximation, said so)."""


def load_prices_for(region: str, directory: Path = PRICES_DIR) -> tuple[dict[str, Any], str | None]:
    """The region's table, or the reference region's with a note that says so.

    A stack added in a new region (``blueprint stack add``) previews offline before anyone has run
    ``blueprint prices refresh`` with credentials: it is priced approximately, never at $0, and the note
    says how to make it exact.
    """
    try:
        return load_prices(region, directory), None
    except PriceTableError as exc:
        if region == REFERENCE_REGION or not (directory / f"{REFERENCE_REGION}.json").exists():
            raise
        return load_prices(REFERENCE_REGION, directory), f"{exc}; priced with the {REFERENCE_REGION} table meanwhile"


_UNPRICED_REASON = {
    "aws:ecr/repository:Repository": "storage depends on the images pushed ($0.10/GB-month); not estimated",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": "cached images are billed as ECR storage of the repositories it creates; not estimated",
}


def _skipped(type_: str) -> bool:
    # Components, providers and in-cluster objects cost nothing themselves: their pods run on the
    # priced node groups (the Kubernetes types that create AWS resources are priced above).
    return type_.startswith(("pulumi:", "platform:", "kubernetes:")) or type_ in FREE


def assumptions_from(config: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults overridden by ``config`` (``cost-monthly-caps.assumptions``)."""
    out = dict(DEFAULT_ASSUMPTIONS)
    for k, v in (config or {}).items():
        if k in out:
            out[k] = _num(v, out[k])
    return out


def estimate(
    resources: Iterable[Any], table: Mapping[str, Any], assumptions: Mapping[str, Any] | None = None
) -> Estimate:
    """Price every resource: line items, unpriced resources and the idle and ceiling totals."""
    res = list(resources)
    ctx = _Context(res, table, assumptions_from(assumptions))
    est = Estimate(str(table["region"]), str(table["date"]), assumptions=dict(ctx.a))
    for r in res:
        pricer = _PRICERS.get(r.resource_type)
        if pricer is not None:
            got = pricer(ctx, r)
            if isinstance(got, str):
                est.unpriced.append({"urn": r.urn, "type": r.resource_type, "reason": got})
            else:
                est.items.extend(got)
        elif not _skipped(r.resource_type):
            reason = _UNPRICED_REASON.get(r.resource_type, "no price in the table for this type")
            est.unpriced.append({"urn": r.urn, "type": r.resource_type, "reason": reason})
    return est


def region_of(resources: Iterable[Any]) -> str | None:
    """The region of the stack's AWS provider."""
    for r in resources:
        if r.resource_type == "pulumi:providers:aws" and r.props.get("region"):
            return str(r.props["region"])
    return None
