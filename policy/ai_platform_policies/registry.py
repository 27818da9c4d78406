"""ECR: scanning, immutable tags, KMS encryption, no public repository policies, lifecycle policies,
private endpoints (catalogue §3.1, ECR-01…06)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    allows,
    as_list,
    get,
    principals,
    statements,
)

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


POLICIES = PolicyList()


def _repo_name(props: Mapping[str, Any], fallback: str) -> str:
    return str(props.get("name") or fallback)


def _enhanced_filters(args: StackValidationArgs) -> list[str]:
    """Repository filters of ENHANCED registry scanning rules (scan on push or continuously)."""
    out: list[str] = []
    for r in args.resources:
        if r.resource_type != SCANNING or r.props.get("scanType") != "ENHANCED":
            continue
        for rule in as_list(r.props.get("rules")):
            for f in as_list(rule.get("repositoryFilters")):
                out.append(str(f.get("filter") or ""))
    return out


@POLICIES.stack(
    "ecr-repository-scan-on-push",
    "Every ECR repository is scanned: scan on push, or an ENHANCED registry scanning rule covering it "
    "(ECR-01; CKV_AWS_163, CIS-EKS 5.1.1).",
    Severity.HIGH,
)
def _scan_on_push(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each repository scans on push or matches an ENHANCED registry scanning filter."""
    filters = _enhanced_filters(args)
    for r in args.resources:
        if r.resource_type != REPOSITORY:
            continue
        name = _repo_name(r.props, r.name)
        if get(r.props, "imageScanningConfiguration.scanOnPush") is True:
            continue
        if any(fnmatch.fnmatch(name, f) for f in filters):
            continue
        report(
            f"ECR repository '{name}' is never scanned: set registry.scanning: basic (scan on push) or enhanced "
            f"in {STACK_FILE}; the repository needs imageScanningConfiguration.scanOnPush: true or an ENHANCED "
            "registry scanning rule whose filter matches it",
            r.urn,
        )


@POLICIES.resource(
    "ecr-repository-immutable-tags",
    "ECR image tags are immutable, so a deployed tag always means the same image (ECR-02; CKV_AWS_51).",
    Severity.HIGH,
    [REPOSITORY],
)
def _immutable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Repositories set imageTagMutability: IMMUTABLE."""
    if args.props.get("imageTagMutability") != "IMMUTABLE":
        report(
            f"ECR repository '{_repo_name(args.props, args.name)}' has mutable tags "
            f"({args.props.get('imageTagMutability') or 'MUTABLE by default'}): set registry.imageTagMutability: "
            f"IMMUTABLE (or registry.repositories.<name>.imageTagMutability) in {STACK_FILE}"
        )


@POLICIES.resource(
    "ecr-repository-kms-encryption",
    "ECR repositories are encrypted with KMS, with the platform's CMK where required (ECR-03; CKV_AWS_136).",
    Severity.HIGH,
    [REPOSITORY],
    config={"requireCustomerManagedKey": {"type": "boolean", "default": False}},
)
def _kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Repositories encrypt with KMS (KMS or KMS_DSSE), with a customer-managed key when configured."""
    enc = as_list(args.props.get("encryptionConfigurations"))
    name = _repo_name(args.props, args.name)
    if not enc or enc[0].get("encryptionType") not in ("KMS", "KMS_DSSE"):
        report(
            f"ECR repository '{name}' is encrypted with AES256 only: set encryptionConfigurations: "
            "[{encryptionType: KMS, kmsKey: <registry key>}] in components/registry.py"
        )
    elif args.get_config().get("requireCustomerManagedKey") and not enc[0].get("kmsKey"):
        report(
            f"ECR repository '{name}' uses the AWS-managed ECR key: set encryptionConfigurations[0].kmsKey to the "
            "registry's customer-managed key (components/registry.py)"
        )


@POLICIES.resource(
    "ecr-repository-policy-no-public-principal",
    "Repository and registry policies never grant to Principal '*' without a condition (ECR-04; CKV_AWS_32).",
    Severity.HIGH,
    [REPO_POLICY, REGISTRY_POLICY],
)
def _no_public_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Repository and registry policies grant Principal '*' only under a Condition."""
    for st in statements(args.props.get("policy")):
        if not allows(st):
            continue
        public = [v for kind, v in principals(st) if v == "*" and kind in ("*", "AWS")]
        if public and not st.get("Condition"):
            report(
                f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' grants {st.get('Action')} to Principal '*' "
                "without a Condition: name the node role / IRSA roles as principals (or add an aws:PrincipalOrgID "
                "condition) in components/registry.py"
            )


@POLICIES.stack(
    "ecr-repository-lifecycle-policy",
    "Every ECR repository has a lifecycle policy that expires untagged images and caps tagged ones (ECR-05).",
    Severity.MEDIUM,
)
def _lifecycle(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each repository has an aws.ecr.LifecyclePolicy attached (by dependency, URN or name)."""
    covered: set[str] = set()
    for r in args.resources:
        if r.resource_type == LIFECYCLE:
            covered.update(d.urn for deps in r.property_dependencies.values() for d in deps)
            covered.update(d.urn for d in r.dependencies)
            covered.add(str(r.props.get("repository") or ""))
    for r in args.resources:
        if r.resource_type != REPOSITORY:
            continue
        name = _repo_name(r.props, r.name)
        if r.urn not in covered and name not in covered:
            report(
                f"ECR repository '{name}' has no lifecycle policy: create an aws.ecr.LifecyclePolicy for it "
                f"(components/registry.py; expiry from registry.untaggedExpiryDays/keepTaggedCount in {STACK_FILE})",
                r.urn,
            )


@POLICIES.stack(
    "ec2-vpc-endpoint-ecr-private",
    "ECR api/dkr interface endpoints and the S3 gateway endpoint exist, so private nodes pull without NAT (ECR-06).",
    Severity.LOW,
)
def _private_endpoints(args: StackValidationArgs, report: ReportViolation) -> None:
    """A stack with ECR repositories has ecr.api, ecr.dkr and s3 VPC endpoints."""
    if not any(r.resource_type == REPOSITORY for r in args.resources):
        return
    names = {str(r.props.get("serviceName") or "") for r in args.resources if r.resource_type == VPC_ENDPOINT}
    missing = [s for s in ("ecr.api", "ecr.dkr", "s3") if not any(n.endswith("." + s) for n in names)]
    if missing:
        report(
            f"image pulls go through NAT: VPC endpoints missing for {', '.join(missing)}; set "
            f"network.vpcEndpoints: true in {STACK_FILE}"
        )
