"""Tags, labels and physical names (catalogue §3.12 TAG-01…04, plus stack-wide name uniqueness)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    HELM_RELEASE,
    STACK_FILE,
    WORKLOAD_TYPES,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    json_doc,
    k8s_kind,
    plain,
    workload_label,
)

# AWS types the blueprint creates that take `tags` (pulumi-aws 7.51: the resource has `tagsAll`).
# tests/policy checks every entry against the installed provider and every captured type against this set.
TAGGABLE: frozenset[str] = frozenset(
    {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ecr/repository:Repository",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:secretsmanager/secret:Secret",
        "aws:sqs/queue:Queue",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)
REQUIRED_TAGS = ["owner", "cost-center", "project", "environment", "managed-by"]


POLICIES = PolicyList()


def _mapping(v: Any) -> dict[str, str]:
    d = json_doc(v) if isinstance(v, str) else plain(v)
    return {str(k): str(x) for k, x in d.items()} if isinstance(d, Mapping) else {}


def effective_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """``tagsAll`` when the engine computed it; otherwise the provider's ``defaultTags`` overlaid by ``tags``.

    Default tags never appear in ``tags`` (pulumi/pulumi-aws#1655); explicit-provider config arrives
    as a JSON string (``defaultTags: '{"tags": {...}}'``).
    """
    if props.get("tagsAll"):
        return _mapping(props.get("tagsAll"))
    defaults: Mapping[str, str] = {}
    if provider_props is not None:
        dt = provider_props.get("defaultTags")
        defaults = _default_tags(dt) if isinstance(dt, str) else _default_tags_of(plain(dt))
    return {**defaults, **_mapping(props.get("tags"))}


@functools.lru_cache(maxsize=64)
def _default_tags(text: str) -> Mapping[str, str]:
    """An explicit provider's ``defaultTags`` config (a JSON string on the wire), parsed once."""
    return _default_tags_of(json_doc(text))


def _default_tags_of(doc: Any) -> dict[str, str]:
    return _mapping(doc.get("tags") or {}) if isinstance(doc, Mapping) else {}


@POLICIES.resource(
    "aws-resource-required-tags",
    "Every taggable AWS resource carries the required cost/ownership tags, checked on tagsAll or provider "
    "defaultTags (TAG-01/02).",
    Severity.MEDIUM,
    TAGGABLE,
    config={
        "requiredTags": {"type": "array", "items": {"type": "string"}, "default": REQUIRED_TAGS},
        "environment": {"type": "string", "description": "Expected value of the environment tag."},
    },
)
def _required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Taggable AWS resources carry every required tag (own tags, tagsAll or provider defaultTags)."""
    cfg = args.get_config()
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.props, provider_props)
    missing = [t for t in as_list(cfg.get("requiredTags")) if not tags.get(str(t))]
    if missing:
        report(
            f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' lacks tag(s) {', '.join(map(str, missing))}: set them "
            f"in `tags` in {STACK_FILE} (the provider's defaultTags carry them to every resource)"
        )
    env = cfg.get("environment")
    if env and tags.get("environment") not in (None, env):
        report(
            f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' is tagged environment={tags.get('environment')} in the "
            f"{env} environment: fix `environment` in {STACK_FILE}"
        )


@POLICIES.resource(
    "ec2-launch-template-tag-propagation",
    "Node launch templates tag the instances and volumes they launch (TAG-03).",
    Severity.MEDIUM,
    ["aws:ec2/launchTemplate:LaunchTemplate"],
)
def _propagation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch templates have tagSpecifications for the instances and volumes they launch."""
    have = {str(s.get("resourceType")) for s in as_list(args.props.get("tagSpecifications")) if s.get("tags")}
    missing = [t for t in ("instance", "volume") if t not in have]
    if missing:
        report(
            f"launch template '{args.name}' does not tag the {' and '.join(missing)} it launches: add "
            "tagSpecifications for instance and volume with the stack tags, so GPU spend is attributable"
        )


@POLICIES.resource(
    "k8s-workload-recommended-labels",
    "Workloads carry app.kubernetes.io/name, app.kubernetes.io/part-of and team labels (TAG-04).",
    Severity.LOW,
    sorted(WORKLOAD_TYPES),
    config={
        "requiredLabels": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "team"],
        }
    },
)
def _labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Workloads carry every configured required label (app.kubernetes.io/name, part-of, team)."""
    labels = get(args.props, "metadata.labels") or {}
    missing = [k for k in as_list(args.get_config().get("requiredLabels")) if not labels.get(str(k))]
    if missing:
        report(
            f"{workload_label(args)} lacks label(s) {', '.join(map(str, missing))}: set them in metadata.labels (cost allocation and ownership)"
        )


# Physical-name input per AWS type (the provider auto-names the resource when it is unset).
NAME_KEYS: Mapping[str, str] = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:ecr/repository:Repository": "name",
    "aws:eks/cluster:Cluster": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:kms/alias:Alias": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:sqs/queue:Queue": "name",
}


def physical_name(r: PolicyResource) -> tuple[str, str] | None:
    """``(scope, name)`` that must be unique, or None when the provider auto-names the resource."""
    t = r.resource_type
    if t in NAME_KEYS:
        name = r.props.get(NAME_KEYS[t])
        if t == "aws:eks/nodeGroup:NodeGroup" and name:
            return (f"{t}:{r.props.get('clusterName')}", str(name))
        return (t, str(name)) if name else None
    if t == HELM_RELEASE:
        name = r.props.get("name")
        return (f"{t}:{r.props.get('namespace') or 'default'}", str(name)) if name else None
    if t.startswith("kubernetes:") and not t.startswith("pulumi:"):
        name = get(r.props, "metadata.name")
        if not name:
            return None
        group = t.split(":")[1].split("/")[0]
        return (f"{group}/{k8s_kind(t)}:{get(r.props, 'metadata.namespace') or ''}", str(name))
    return None


@POLICIES.stack(
    "stack-unique-physical-names",
    "No two resources share a physical name (AWS name or Kubernetes namespace/kind/name).",
    Severity.HIGH,
)
def _unique_names(args: StackValidationArgs, report: ReportViolation) -> None:
    """No two resources share a physical name."""
    seen: dict[tuple[str, str], PolicyResource] = {}
    for r in args.resources:
        key = physical_name(r)
        if key is None:
            continue
        if key in seen:
            report(
                f"'{r.name}' and '{seen[key].name}' both create {k8s_kind(key[0]) if key[0].startswith('kubernetes') else key[0].split(':')[-1]} "
                f"named '{key[1]}': the second create fails (or two stacks fight over one object); derive names from "
                "the component name and stack",
                r.urn,
            )
        else:
            seen[key] = r
