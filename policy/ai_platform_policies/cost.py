"""GPU cost guardrails, with the limits in policy config per environment (catalogue §3.11, COST-01…10)."""

from __future__ import annotations

import fnmatch

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from . import estimate
from ._util import (
    CONFIG_FILES_SCHEMA,
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    config_files_hint,
    get,
    gpus_of,
    is_gpu_instance,
    is_gpu_node_group,
    node_group_instance_types,
    num,
    pod_spec,
    requests_gpu,
)

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_PROVIDER = "pulumi:providers:aws"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


POLICIES = PolicyList()


def _pool(props: object, fallback: str) -> str:
    labels = get(props, "labels") or {}
    return str(labels.get("platform.ai/pool") or get(props, "nodeGroupName") or fallback)


@POLICIES.resource(
    "eks-node-group-gpu-instance-allowlist",
    "GPU instance types come from the environment's allowlist (COST-01).",
    Severity.HIGH,
    [NODE_GROUP, LAUNCH_TEMPLATE],
    config={
        "allowedGpuInstanceTypes": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"],
        },
        "configFiles": CONFIG_FILES_SCHEMA,
    },
)
def _allowlist(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU node groups and launch templates use only the environment's allowed GPU instance types."""
    cfg = args.get_config()
    allowed = [str(a) for a in as_list(cfg.get("allowedGpuInstanceTypes"))]
    if args.resource_type == NODE_GROUP:
        types = node_group_instance_types(args.props)
        where = f"nodePools.{_pool(args.props, args.name)}.instanceTypes in {STACK_FILE}"
    else:
        types = [str(args.props.get("instanceType") or "")]
        where = "the launch template's instanceType"
    bad = [t for t in types if is_gpu_instance(t) and not any(fnmatch.fnmatch(t, a) for a in allowed)]
    if bad:
        report(
            f"GPU instance type(s) {bad} are not allowed in this environment ({allowed}): change {where}, or add "
            f"them to allowedGpuInstanceTypes in {config_files_hint(cfg)} with approval"
        )


@POLICIES.resource(
    "eks-node-group-gpu-max-size",
    "Each GPU node group's maxSize stays under the environment's per-pool cap (COST-02).",
    Severity.HIGH,
    [NODE_GROUP],
    config={"maxNodesPerPool": {"type": "integer", "default": 2, "minimum": 0}},
)
def _max_size(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Each GPU node group's scalingConfig.maxSize stays at or under the per-pool cap."""
    if not is_gpu_node_group(args.props):
        return
    cap = num(args.get_config().get("maxNodesPerPool"), 2) or 0
    size = num(get(args.props, "scalingConfig.maxSize"))
    pool = _pool(args.props, args.name)
    if size is None:
        report(f"GPU node group '{pool}' has no scalingConfig.maxSize: set nodePools.{pool}.maxSize in {STACK_FILE}")
    elif size > cap:
        report(
            f"GPU node group '{pool}' can grow to {size:g} nodes, above this environment's cap of {cap:g}: lower "
            f"nodePools.{pool}.maxSize in {STACK_FILE} (or raise maxNodesPerPool in policy/config/tiers/<tier>.json with approval)"
        )


def _gpu_groups(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == NODE_GROUP and is_gpu_node_group(r.props)]


@POLICIES.stack(
    "eks-gpu-capacity-budget",
    "All GPU node groups together stay under the environment's node (and GPU) budget (COST-02).",
    Severity.HIGH,
    config={
        "maxGpuNodesTotal": {"type": "integer", "default": 4, "minimum": 0},
        "maxGpusTotal": {"type": "integer", "minimum": 0},
    },
)
def _total(args: StackValidationArgs, report: ReportViolation) -> None:
    """The GPU node groups' summed maxSize (and GPUs, when capped) stays within the environment's budget."""
    cfg = args.get_config()
    max_nodes = num(cfg.get("maxGpuNodesTotal"), 4) or 0
    max_gpus = num(cfg.get("maxGpusTotal"))
    nodes = gpus = 0.0
    for r in _gpu_groups(args):
        size = num(get(r.props, "scalingConfig.maxSize"), 0) or 0
        nodes += size
        gpus += size * max((gpus_of(t) for t in node_group_instance_types(r.props)), default=1)
    if nodes > max_nodes:
        report(
            f"GPU node groups can grow to {nodes:g} nodes in total, above the budget of {max_nodes:g}: lower "
            f"nodePools.<gpu pool>.maxSize in {STACK_FILE}"
        )
    if max_gpus is not None and gpus > max_gpus:
        report(
            f"GPU node groups can hold {gpus:g} GPUs in total, above the budget of {max_gpus:g}: lower nodePools.<gpu pool>.maxSize in {STACK_FILE}"
        )


@POLICIES.resource(
    "eks-node-group-gpu-spot",
    "GPU node groups use Spot capacity where the environment requires it (COST-03).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _spot(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU node groups use capacityType SPOT where the environment requires it."""
    if is_gpu_node_group(args.props) and args.props.get("capacityType") != "SPOT":
        pool = _pool(args.props, args.name)
        report(
            f"GPU node group '{pool}' is {args.props.get('capacityType') or 'ON_DEMAND'}: set "
            f"nodePools.{pool}.capacityType: SPOT in {STACK_FILE}"
        )


@POLICIES.resource(
    "eks-node-group-gpu-scale-to-zero",
    "GPU node groups scale to zero when idle where the environment requires it (COST-04).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _min_zero(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU node groups set scalingConfig.minSize 0 where the environment requires it."""
    if not is_gpu_node_group(args.props):
        return
    low = num(get(args.props, "scalingConfig.minSize"))
    if low is None or low > 0:
        pool = _pool(args.props, args.name)
        report(
            f"GPU node group '{pool}' keeps {'an unknown number of' if low is None else f'{low:g}'} GPU node(s) running "
            f"when idle: set nodePools.{pool}.minSize: 0 in {STACK_FILE}"
        )


@POLICIES.resource(
    "eks-node-group-desired-size-unmanaged",
    "desiredSize is not re-pinned on every update (ignore_changes on scalingConfig.desiredSize) (COST-05).",
    Severity.LOW,
    [NODE_GROUP],
)
def _desired_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Node groups that pin desiredSize above minSize ignore changes to it."""
    desired = num(get(args.props, "scalingConfig.desiredSize"))
    low = num(get(args.props, "scalingConfig.minSize"), 0) or 0
    ignored = any(p in ("scalingConfig.desiredSize", "scalingConfig") for p in (args.opts.ignore_changes or []))
    if desired is not None and desired > low and not ignored:
        report(
            f"node group '{_pool(args.props, args.name)}' pins desiredSize {desired:g}: every `pulumi up` resets what "
            "the cluster-autoscaler scaled to; add ignore_changes=['scalingConfig.desiredSize'] (components/node_pool.py)"
        )


@POLICIES.resource(
    "k8s-serving-gpu-replicas-capped",
    "GPU serving Deployments run at most the environment's replica cap (KEDA scales beyond) (COST-06).",
    Severity.LOW,
    [DEPLOYMENT],
    config={"maxGpuReplicas": {"type": "integer", "default": 1}},
)
def _dev_replicas(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """GPU Deployments set no more replicas than the environment's cap."""
    spec = pod_spec(args.resource_type, args.props)
    if not requests_gpu(spec):
        return
    cap = num(args.get_config().get("maxGpuReplicas"), 1) or 1
    replicas = num(get(args.props, "spec.replicas"))
    if replicas is not None and replicas > cap:
        report(
            f"GPU Deployment '{get(args.props, 'metadata.name') or args.name}' runs {replicas:g} replicas (cap {cap:g}): "
            f"lower serving.models.<name>.minReplicas in {STACK_FILE} and let KEDA scale"
        )


@POLICIES.resource(
    "ec2-launch-template-gp3",
    "Node volumes are gp3 (COST-07; finops requireEbsVolumeTypeGP3).",
    Severity.LOW,
    [LAUNCH_TEMPLATE],
)
def _gp3(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Launch-template EBS volumes are gp3."""
    for b in as_list(args.props.get("blockDeviceMappings")):
        t = get(b, "ebs.volumeType")
        if t != "gp3":
            report(
                f"launch template '{args.name}' volume {b.get('deviceName')} is {t or 'gp2 (default)'}: set ebs.volumeType: gp3 (20% cheaper, 3000 IOPS baseline)"
            )


@POLICIES.resource(
    "aws-provider-region-allowlist",
    "The AWS provider targets an allowlisted region (COST-10).",
    Severity.MEDIUM,
    [AWS_PROVIDER],
    config={
        "allowedRegions": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["us-west-2", "us-east-1", "us-east-2", "eu-west-1"],
        },
        "stackRegion": {"type": "string", "default": ""},
        "configFiles": CONFIG_FILES_SCHEMA,
    },
)
def _region(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The AWS provider's region is on the allowlist."""
    cfg = args.get_config()
    allowed = [str(r) for r in as_list(cfg.get("allowedRegions"))]
    own = str(cfg.get("stackRegion") or "")  # the stack's region, derived by blueprint/preview/policy_config.py
    region = str(args.props.get("region") or "")
    if region not in allowed and (not own or region != own):
        report(
            f"AWS provider region '{region or 'unset'}' is neither the stack's region ({own or 'unknown'}) nor in "
            f"the allowlist {allowed}: set region in {STACK_FILE} or add it to allowedRegions in "
            f"{config_files_hint(cfg)}"
        )


@POLICIES.resource(
    "eks-node-group-gpu-scale-from-zero-labels",
    "Scale-to-zero GPU node groups carry the labels the autoscaler matches pending pods against (COST-04).",
    Severity.MEDIUM,
    [NODE_GROUP],
)
def _scale_from_zero_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Managed node groups publish labels/taints to the cluster-autoscaler through DescribeNodegroup;
    # the ASG tags below are what it falls back to (cluster-autoscaler AWS README, "scale from 0").
    """GPU node groups with minSize 0 carry a platform.ai/accelerator or platform.ai/gpu-model label."""
    if not is_gpu_node_group(args.props) or (num(get(args.props, "scalingConfig.minSize"), 1) or 0) > 0:
        return
    labels = get(args.props, "labels") or {}
    if "platform.ai/accelerator" not in labels and "platform.ai/gpu-model" not in labels:
        report(
            f"GPU node group '{_pool(args.props, args.name)}' scales from zero but carries no platform.ai/accelerator or "
            "platform.ai/gpu-model label: the autoscaler cannot tell which pending pod it fits (components/node_pool.py)"
        )


@POLICIES.stack(
    "cost-monthly-caps",
    "The stack's estimated monthly cost at idle and at ceiling stays under the environment's caps (COST-11).",
    Severity.HIGH,
    config={
        "maxMonthlyIdle": {"type": "number", "minimum": 0},
        "maxMonthlyCeiling": {"type": "number", "minimum": 0},
        # Usage the plan cannot tell (docs/cost-and-time.md); the CLI validates the config against this.
        "assumptions": {
            "type": "object",
            "properties": {k: {"type": "number", "minimum": 0} for k in estimate.DEFAULT_ASSUMPTIONS},
            "additionalProperties": False,
        },
    },
)
def _monthly_caps(args: StackValidationArgs, report: ReportViolation) -> None:
    # The same estimate `blueprint preview` prints (estimate.py, one implementation): a cap breach
    # names the line items that drive it, so the reviewer sees what to cut.
    """The estimated monthly cost at idle and at ceiling stays under the configured caps."""
    cfg = args.get_config()
    caps = {"idle": num(cfg.get("maxMonthlyIdle")), "ceiling": num(cfg.get("maxMonthlyCeiling"))}
    if caps["idle"] is None and caps["ceiling"] is None:
        return
    region = estimate.region_of(args.resources)
    if region is None:
        return
    try:
        table, _approximate = estimate.load_prices_for(region)
    except estimate.PriceTableError as exc:
        report(f"cannot check the monthly cost caps: {exc}")
        return
    est = estimate.estimate(args.resources, table, cfg.get("assumptions"))
    for which, cap in caps.items():
        total = est.idle if which == "idle" else est.ceiling
        if cap is None or total <= cap:
            continue
        top = "; ".join(
            f"{i.urn.rsplit('::', 1)[-1]} ({i.component}) {estimate.money(i.monthly_idle if which == 'idle' else i.monthly_ceiling)}"
            for i in est.top(3, which)
        )
        report(
            f"estimated {which} cost {estimate.money(total)}/month exceeds this environment's cap of "
            f"{estimate.money(cap)}/month (prices {table['region']} {table['date']}); biggest line items: {top}. "
            f"Lower nodePools.<pool>.{'minSize' if which == 'idle' else 'maxSize'} or the models' replicas in {STACK_FILE}, "
            f"or raise {'maxMonthlyIdle' if which == 'idle' else 'maxMonthlyCeiling'} in policy/config/tiers/<tier>.json with approval"
        )
