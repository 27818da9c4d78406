"""EKS control plane, its KMS keys and log groups (catalogue §3.2 EKS-01…08, §3.7 CW-01)."""

from __future__ import annotations

import ipaddress

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    allows,
    as_list,
    get,
    json_doc,
    num,
    principals,
    statements,
    truthy,
)

CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


POLICIES = PolicyList()


@POLICIES.resource(
    "eks-cluster-endpoint-private-access",
    "The EKS API has a private endpoint so nodes and pods reach it inside the VPC (EKS-01; CIS 5.4.2).",
    Severity.CRITICAL,
    [CLUSTER],
)
def _private_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The cluster sets vpcConfig.endpointPrivateAccess: true."""
    if get(args.props, "vpcConfig.endpointPrivateAccess") is not True:
        report(
            "the EKS API has no private endpoint, so nodes reach it over the internet: set "
            "vpcConfig.endpointPrivateAccess: true (components/cluster.py)"
        )


@POLICIES.resource(
    "eks-cluster-public-endpoint-restricted",
    "The public EKS endpoint is off, or (where allowed) limited to specific CIDRs, never 0.0.0.0/0 "
    "(EKS-01; CKV_AWS_38/39, CIS 5.4.1).",
    Severity.CRITICAL,
    [CLUSTER],
    config={"allowPublicEndpoint": {"type": "boolean", "default": False}},
)
def _public_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # EKS defaults endpointPublicAccess to true when unset.
    """The API endpoint is private unless allowed, and then open only to listed CIDRs, never 0.0.0.0/0."""
    public = get(args.props, "vpcConfig.endpointPublicAccess", True)
    if public is False:
        return
    if not args.get_config().get("allowPublicEndpoint"):
        report(f"the EKS API endpoint is public: set cluster.endpointPublicAccess: false in {STACK_FILE}")
        return
    cidrs = [str(c) for c in as_list(get(args.props, "vpcConfig.publicAccessCidrs"))]
    open_ = [c for c in cidrs if _is_open(c)]
    if not cidrs or open_:
        report(
            "the public EKS API endpoint is open to the internet "
            f"({', '.join(open_) or 'no publicAccessCidrs, so 0.0.0.0/0'}): list specific CIDRs in "
            f"cluster.publicAccessCidrs in {STACK_FILE}"
        )


def _is_open(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


@POLICIES.resource(
    "eks-cluster-secrets-encryption",
    "Kubernetes secrets are envelope-encrypted with a customer-managed KMS key (EKS-02; CKV_AWS_58, CIS 5.3.1).",
    Severity.HIGH,
    [CLUSTER],
)
def _secrets_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The cluster envelope-encrypts the secrets resource with a KMS key."""
    enc = get(args.props, "encryptionConfig")
    if not enc or "secrets" not in as_list(enc.get("resources")) or not get(enc, "provider.keyArn"):
        report(
            "Kubernetes secrets are not envelope-encrypted with a customer-managed key: set "
            "encryptionConfig: {resources: [secrets], provider: {keyArn: <cluster KMS key>}} (components/cluster.py)"
        )


@POLICIES.resource(
    "eks-cluster-control-plane-logging",
    "Control-plane logs (api, audit, authenticator, controllerManager, scheduler) go to CloudWatch "
    "(EKS-03; CKV_AWS_37, CIS 2.1.1).",
    Severity.MEDIUM,
    [CLUSTER],
    config={
        "requiredLogTypes": {"type": "array", "items": {"type": "string"}, "default": ALL_LOG_TYPES},
    },
)
def _logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The cluster enables every configured control-plane log type."""
    required = [str(t) for t in as_list(args.get_config().get("requiredLogTypes"))]
    have = {str(t) for t in as_list(args.props.get("enabledClusterLogTypes"))}
    missing = [t for t in required if t not in have]
    if missing:
        report(
            f"control-plane log types not enabled: {', '.join(missing)}; set enabledClusterLogTypes to include them "
            "(components/cluster.py)"
        )


@POLICIES.resource(
    "eks-cluster-supported-version",
    "The cluster runs a Kubernetes version in EKS standard support (EKS-04; CKV_AWS_339).",
    Severity.HIGH,
    [CLUSTER],
    config={"supportedVersions": {"type": "array", "items": {"type": "string"}, "default": ["1.34", "1.35", "1.36"]}},
)
def _version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The cluster's Kubernetes version is one of the configured supported versions."""
    allowed = [str(v) for v in as_list(args.get_config().get("supportedVersions"))]
    version = args.props.get("version")
    if version is None or str(version) not in allowed:
        report(
            f"EKS version {version or '(unset: EKS picks the default)'} is not in standard support "
            f"({', '.join(allowed)}): set cluster.version in {STACK_FILE}"
        )


@POLICIES.resource(
    "eks-cluster-access-entries",
    "Cluster access uses EKS access entries (authenticationMode API), not the aws-auth ConfigMap (EKS-05; CIS 4.1.7).",
    Severity.HIGH,
    [CLUSTER],
)
def _auth_mode(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The cluster's accessConfig.authenticationMode is API or API_AND_CONFIG_MAP (access entries)."""
    mode = get(args.props, "accessConfig.authenticationMode")
    if mode not in ("API", "API_AND_CONFIG_MAP"):
        report(
            f"cluster access is managed by the aws-auth ConfigMap ({mode or 'CONFIG_MAP by default'}): set "
            "accessConfig.authenticationMode: API and grant admins with access entries (components/cluster.py)"
        )


@POLICIES.resource(
    "eks-cluster-no-creator-admin",
    "The cluster creator gets no implicit cluster-admin; admins are explicit access entries (EKS-05; BPG).",
    Severity.HIGH,
    [CLUSTER],
)
def _creator_admin(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # The EKS API defaults bootstrapClusterCreatorAdminPermissions to true.
    """The cluster sets bootstrapClusterCreatorAdminPermissions: false."""
    if get(args.props, "accessConfig.bootstrapClusterCreatorAdminPermissions", True) is not False:
        report(
            "the identity that creates the cluster becomes a hidden cluster-admin: set "
            "accessConfig.bootstrapClusterCreatorAdminPermissions: false and list admins in "
            f"cluster.adminRoleArns in {STACK_FILE}"
        )


@POLICIES.stack(
    "eks-cluster-network-policy-enabled",
    "The VPC CNI enforces Kubernetes NetworkPolicies (EKS-07; CIS 5.4.4).",
    Severity.MEDIUM,
)
def _network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    """The vpc-cni add-on runs with enableNetworkPolicy: "true"."""
    if not any(r.resource_type == CLUSTER for r in args.resources):
        return
    for r in args.resources:
        if r.resource_type == ADDON and r.props.get("addonName") == "vpc-cni":
            cfg = json_doc(r.props.get("configurationValues")) or {}
            if truthy(cfg.get("enableNetworkPolicy")):
                return
            report(
                'the vpc-cni add-on does not enforce NetworkPolicies: set configurationValues {"enableNetworkPolicy": '
                '"true"} on the vpc-cni aws.eks.Addon (components/cluster.py)',
                r.urn,
            )
            return
    report(
        "no vpc-cni add-on with network policy enforcement: create the vpc-cni aws.eks.Addon with "
        'configurationValues {"enableNetworkPolicy": "true"} (components/cluster.py)'
    )


@POLICIES.resource(
    "kms-key-rotation-enabled",
    "Customer-managed KMS keys rotate yearly (EKS-08; CKV_AWS_7, AWSGuard cmk-backing-key-rotation-enabled).",
    Severity.MEDIUM,
    [KMS_KEY],
)
def _key_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KMS keys set enableKeyRotation: true."""
    if args.props.get("enableKeyRotation") is not True:
        report(f"KMS key '{args.name}' does not rotate: set enableKeyRotation: true where the key is created")


@POLICIES.resource(
    "kms-key-no-lockout-bypass",
    "KMS keys never bypass the policy lockout safety check (EKS-08; PC disallow-bypass-policy-lockout).",
    Severity.CRITICAL,
    [KMS_KEY],
)
def _key_lockout(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KMS keys never set bypassPolicyLockoutSafetyCheck."""
    if args.props.get("bypassPolicyLockoutSafetyCheck") is True:
        report(
            f"KMS key '{args.name}' bypasses the policy lockout safety check: remove "
            "bypassPolicyLockoutSafetyCheck (a bad key policy could lock everyone out)"
        )


@POLICIES.resource(
    "kms-key-description",
    "KMS keys say what they encrypt (EKS-08; PC kms-key-missing-description).",
    Severity.LOW,
    [KMS_KEY],
)
def _key_description(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KMS keys carry a description."""
    if not str(args.props.get("description") or "").strip():
        report(f"KMS key '{args.name}' has no description: set description to what the key encrypts")


@POLICIES.resource(
    "kms-key-policy-no-public-principal",
    "KMS key policies never grant to Principal '*' without a condition (EKS-08; CKV_AWS_33).",
    Severity.HIGH,
    [KMS_KEY],
)
def _key_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KMS key policies grant Principal '*' only under a Condition."""
    for st in statements(args.props.get("policy")):
        if allows(st) and any(v == "*" for _, v in principals(st)) and not st.get("Condition"):
            report(
                f"KMS key '{args.name}' policy grants {st.get('Action')} to Principal '*' without a Condition: "
                "name the account root or specific roles"
            )


@POLICIES.resource(
    "cloudwatch-log-group-retention",
    "Log groups have a retention at or above the environment's minimum (CW-01; CKV_AWS_66/338).",
    Severity.LOW,
    [LOG_GROUP],
    config={"minRetentionDays": {"type": "integer", "default": 1}},
)
def _retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Log groups set retentionInDays at or above the configured minimum."""
    days = num(args.props.get("retentionInDays"))
    minimum = num(args.get_config().get("minRetentionDays"), 1) or 1
    name = args.props.get("name") or args.name
    if not days:
        report(
            f"log group '{name}' keeps logs forever: set retentionInDays (cluster.logRetentionDays / "
            f"network.flowLogRetentionDays in {STACK_FILE})"
        )
    elif days < minimum:
        report(
            f"log group '{name}' keeps logs {days:g} days, below this environment's minimum of {minimum:g}: raise "
            f"cluster.logRetentionDays / network.flowLogRetentionDays in {STACK_FILE}"
        )
