"""Managed node groups and their launch templates (catalogue §3.3, NG-01…11)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    GPU_TAINT_KEY,
    HELM_RELEASE,
    STACK_FILE,
    WORKLOAD_TYPES,
    PolicyList,
    ReportViolation,
    as_list,
    chart_name,
    get,
    helm_values,
    is_gpu_node_group,
    num,
    pod_spec,
    principals,
    requests_gpu,
    statements,
    tolerates_gpu_taint,
    truthy,
)

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

GPU_AMI_TYPES = [
    "AL2023_x86_64_NVIDIA",
    "AL2023_ARM_64_NVIDIA",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "BOTTLEROCKET_ARM_64_NVIDIA",
]
NODE_ROLE_POLICIES = [
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
]
_SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"ASIA[0-9A-Z]{16}"),
    re.compile(r"(?i)aws_secret_access_key\s*[=:]"),
    re.compile(r"(?i)\b(password|passwd|secret|token)\s*[=:]\s*['\"]?[^\s'\"$]{6,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


POLICIES = PolicyList()


def _pool(args: ResourceValidationArgs) -> str:
    return str(args.props.get("nodeGroupName") or args.name)


@POLICIES.resource(
    "ec2-launch-template-imdsv2",
    "Node launch templates require IMDSv2 tokens (NG-01; CKV_AWS_79).",
    Severity.HIGH,
    [LAUNCH_TEMPLATE],
)
def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch templates set metadataOptions.httpTokens: required."""
    if get(args.props, "metadataOptions.httpTokens") != "required":
        report(
            f"launch template '{args.name}' allows IMDSv1: set metadataOptions.httpTokens: required "
            "(components/node_pool.py)"
        )


@POLICIES.resource(
    "ec2-launch-template-imds-hop-limit",
    "IMDS hop limit 1, so pods cannot use the node role's credentials (NG-02; CKV_AWS_341).",
    Severity.HIGH,
    [LAUNCH_TEMPLATE],
    config={"maxHopLimit": {"type": "integer", "default": 1, "minimum": 1, "maximum": 2}},
)
def _hop_limit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch templates cap metadataOptions.httpPutResponseHopLimit at the configured maximum (1)."""
    limit = num(get(args.props, "metadataOptions.httpPutResponseHopLimit"))
    maximum = num(args.get_config().get("maxHopLimit"), 1) or 1
    if limit is None or limit > maximum:
        report(
            f"launch template '{args.name}' lets pods reach the node role through IMDS (hop limit "
            f"{'unset' if limit is None else f'{limit:g}'}): set metadataOptions.httpPutResponseHopLimit: "
            f"{maximum:g} (components/node_pool.py)"
        )


@POLICIES.resource(
    "eks-node-group-launch-template",
    "Node groups use a launch template, so IMDS/EBS settings are explicit and checkable (NG-03).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _lt_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Managed node groups reference a launch template."""
    lt = args.props.get("launchTemplate")
    if not lt or not (lt.get("id") or lt.get("name")):
        report(
            f"node group '{_pool(args)}' has no launch template, so IMDS and EBS settings are the EKS defaults and "
            "invisible to policy: set launchTemplate: {id, version} (components/node_pool.py)"
        )


@POLICIES.resource(
    "ec2-launch-template-ebs-encrypted",
    "Every node volume is encrypted (with the platform CMK where required) (NG-04; CKV_AWS_8).",
    Severity.HIGH,
    [LAUNCH_TEMPLATE],
    config={"requireCustomerManagedKey": {"type": "boolean", "default": False}},
)
def _ebs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch templates map their volumes, each encrypted, with a KMS key when configured."""
    bdms = as_list(args.props.get("blockDeviceMappings"))
    cmk = bool(args.get_config().get("requireCustomerManagedKey"))
    if not bdms:
        report(
            f"launch template '{args.name}' has no blockDeviceMappings, so the root volume's encryption is the "
            "AMI default: map the root device with ebs.encrypted: true (components/node_pool.py)"
        )
    for b in bdms:
        ebs = b.get("ebs")
        if ebs is None:
            continue
        if not truthy(ebs.get("encrypted")):
            report(
                f"launch template '{args.name}' volume {b.get('deviceName')} is unencrypted: set "
                "blockDeviceMappings[].ebs.encrypted: 'true' (components/node_pool.py)"
            )
        elif cmk and not ebs.get("kmsKeyId"):
            report(
                f"launch template '{args.name}' volume {b.get('deviceName')} uses the AWS-managed EBS key: set "
                "blockDeviceMappings[].ebs.kmsKeyId to the platform key (components/node_pool.py)"
            )


@POLICIES.resource(
    "ec2-launch-template-no-public-ip",
    "Nodes never get public IPs (NG-05; CKV_AWS_88).",
    Severity.HIGH,
    [LAUNCH_TEMPLATE],
)
def _no_public_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch-template network interfaces never associate a public IP."""
    for ni in as_list(args.props.get("networkInterfaces")):
        if truthy(ni.get("associatePublicIpAddress")):
            report(
                f"launch template '{args.name}' gives nodes public IPs: remove "
                "networkInterfaces[].associatePublicIpAddress (nodes live in private subnets)"
            )


@POLICIES.resource(
    "ec2-launch-template-user-data-no-secrets",
    "Node user data holds no credentials (NG-06; CKV_AWS_46).",
    Severity.HIGH,
    [LAUNCH_TEMPLATE],
)
def _user_data(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch-template user data (plain or base64) matches no credential pattern."""
    raw = args.props.get("userData")
    if not raw:
        return
    text = str(raw)
    with contextlib.suppress(binascii.Error, ValueError):
        text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
    for pat in _SECRET_PATTERNS:
        if pat.search(text):
            report(
                f"launch template '{args.name}' user data contains what looks like a credential ({pat.pattern}): "
                "read secrets at boot from Secrets Manager/SSM with the node role instead"
            )
            return


@POLICIES.resource(
    "eks-node-group-no-ssh",
    "Nodes are reached with SSM, not SSH (NG-07; CKV_AWS_100).",
    Severity.HIGH,
    [NODE_GROUP],
    config={"allowRestrictedSsh": {"type": "boolean", "default": False}},
)
def _no_ssh(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Node groups set no remoteAccess; where allowed, only with source security groups."""
    ra = args.props.get("remoteAccess")
    if ra and not as_list(ra.get("sourceSecurityGroupIds")):
        report(
            f"node group '{_pool(args)}' opens SSH to 0.0.0.0/0 (remoteAccess without sourceSecurityGroupIds): "
            "remove remoteAccess and use SSM Session Manager (components/node_pool.py)"
        )
    elif ra and not args.get_config().get("allowRestrictedSsh"):
        report(
            f"node group '{_pool(args)}' enables SSH (remoteAccess): remove it and use SSM Session Manager "
            "(components/node_pool.py)"
        )


@POLICIES.resource(
    "eks-node-group-gpu-taint",
    "GPU node groups carry the nvidia.com/gpu NoSchedule taint so only GPU pods use them (NG-08).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _gpu_taint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU node groups carry the nvidia.com/gpu NoSchedule taint."""
    if not is_gpu_node_group(args.props):
        return
    for t in as_list(args.props.get("taints")):
        if t.get("key") == GPU_TAINT_KEY and t.get("effect") == "NO_SCHEDULE":
            return
    report(
        f"GPU node group '{_pool(args)}' is not tainted, so any pod can land on (and block) its GPUs: add taint "
        f"{{key: {GPU_TAINT_KEY}, value: 'true', effect: NO_SCHEDULE}} (components/node_pool.py)"
    )


@POLICIES.resource(
    "eks-node-group-gpu-ami",
    "GPU node groups use an NVIDIA-accelerated AL2023/Bottlerocket AMI; no group uses AL2 (NG-09).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _gpu_ami(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No node group runs an AL2 AMI type; GPU node groups run an NVIDIA AMI type (or CUSTOM)."""
    ami = str(args.props.get("amiType") or "")
    if ami.startswith("AL2_"):
        report(
            f"node group '{_pool(args)}' uses {ami}; EKS stopped publishing AL2 AMIs on 2025-11-26: set "
            f"nodePools.{_pool_key(args)}.amiType to an AL2023 or Bottlerocket type in {STACK_FILE}"
        )
    elif is_gpu_node_group(args.props) and ami not in GPU_AMI_TYPES and ami != "CUSTOM":
        report(
            f"GPU node group '{_pool(args)}' uses {ami or 'the default (standard) AMI'}, which has no NVIDIA driver: "
            f"set nodePools.{_pool_key(args)}.amiType to one of {', '.join(GPU_AMI_TYPES)} in {STACK_FILE}"
        )


def _pool_key(args: ResourceValidationArgs) -> str:
    labels = args.props.get("labels") or {}
    return str(labels.get("platform.ai/pool") or _pool(args))


@POLICIES.resource(
    "eks-node-group-multi-az",
    "Node groups span enough availability zones to survive an AZ outage (NG-10).",
    Severity.MEDIUM,
    [NODE_GROUP],
    config={"minSubnets": {"type": "integer", "default": 2, "minimum": 1}},
)
def _multi_az(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Node groups span at least the configured number of subnets (one per AZ)."""
    subnets = as_list(args.props.get("subnetIds"))
    minimum = int(num(args.get_config().get("minSubnets"), 2) or 2)
    if len(subnets) < minimum:
        report(
            f"node group '{_pool(args)}' spans {len(subnets)} subnet(s), fewer than {minimum}: list at least {minimum} "
            f"availability zones in network.availabilityZones (or nodePools.{_pool_key(args)}.availabilityZones) "
            f"in {STACK_FILE}"
        )


def _ec2_roles(args: StackValidationArgs) -> dict[str, PolicyResource]:
    out = {}
    for r in args.resources:
        if r.resource_type != ROLE:
            continue
        for st in statements(r.props.get("assumeRolePolicy")):
            if ("Service", "ec2.amazonaws.com") in principals(st):
                out[r.urn] = r
    return out


@POLICIES.stack(
    "iam-node-role-least-privilege",
    "The node role carries only the worker, ECR read-only, CNI and SSM policies (NG-11; CIS 5.1.3).",
    Severity.HIGH,
    config={"allowedPolicyArns": {"type": "array", "items": {"type": "string"}, "default": NODE_ROLE_POLICIES}},
)
def _node_role_policies(args: StackValidationArgs, report: ReportViolation) -> None:
    """The node role carries only the allowed managed policies and no inline policy."""
    roles = _ec2_roles(args)
    allowed = {str(a) for a in as_list(args.get_config().get("allowedPolicyArns"))}
    for r in args.resources:
        deps = [d.urn for d in r.property_dependencies.get("role", [])]
        on_node_role = [u for u in deps if u in roles]
        if not on_node_role:
            continue
        if r.resource_type == ATTACHMENT:
            arn = str(r.props.get("policyArn") or "")
            if arn not in allowed:
                report(
                    f"node role '{roles[on_node_role[0]].name}' gets {arn}: every pod on the node inherits it; give "
                    "the workload an IRSA role instead (components/node_pool.py / cluster.py)",
                    r.urn,
                )
        elif r.resource_type == ROLE_POLICY:
            report(
                f"node role '{roles[on_node_role[0]].name}' has an inline policy '{r.name}': every pod on the node "
                "inherits it; move it to an IRSA role",
                r.urn,
            )
    for urn, role in roles.items():
        extra = [a for a in as_list(role.props.get("managedPolicyArns")) if str(a) not in allowed]
        if extra:
            report(f"node role '{role.name}' lists managedPolicyArns {extra}: only {sorted(allowed)} belong there", urn)


@POLICIES.stack(
    "eks-gpu-taint-toleration-consistency",
    "Every GPU node group is tainted and every GPU workload and GPU daemon tolerates exactly those taints (NG-08, K8S-21).",
    Severity.HIGH,
)
def _taint_consistency(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every GPU node group is tainted, and every GPU workload tolerates the taints actually configured."""
    groups = [r for r in args.resources if r.resource_type == NODE_GROUP and is_gpu_node_group(r.props)]
    if not groups:
        return
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    taints: set[tuple[str, str, str]] = set()
    for g in groups:
        mine = [t for t in as_list(g.props.get("taints")) if t.get("key") == GPU_TAINT_KEY]
        if not mine:
            report(
                f"GPU node group '{g.props.get('nodeGroupName') or g.name}' has no {GPU_TAINT_KEY} taint: CPU pods will "
                "fill the GPU nodes; add it (components/node_pool.py)",
                g.urn,
            )
        for t in mine:
            taints.add(
                (GPU_TAINT_KEY, str(t.get("value") or ""), effects.get(str(t.get("effect")), str(t.get("effect"))))
            )
    wanted = sorted(taints)
    for r in args.resources:
        if r.resource_type in WORKLOAD_TYPES:
            spec = pod_spec(r.resource_type, r.props)
            if requests_gpu(spec) and not tolerates_gpu_taint(spec, wanted):
                report(
                    f"GPU workload '{r.name}' does not tolerate the GPU node taints {wanted}: it will stay Pending",
                    r.urn,
                )
        elif r.resource_type == HELM_RELEASE and chart_name(r.props) in ("nvidia-device-plugin", "dcgm-exporter"):
            spec = {"tolerations": helm_values(r.props).get("tolerations") or []}
            if chart_name(r.props) == "nvidia-device-plugin" and "tolerations" not in helm_values(r.props):
                continue  # the chart's default tolerates nvidia.com/gpu:NoSchedule (its values.yaml)
            if not tolerates_gpu_taint(spec, wanted):
                report(
                    f"{chart_name(r.props)} release '{r.name}' does not tolerate the GPU node taints {wanted}: its "
                    "DaemonSet never runs on GPU nodes; set values.tolerations (components/gpu_stack.py)",
                    r.urn,
                )
