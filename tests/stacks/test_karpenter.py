"""Node provisioning per stack: Karpenter stacks provision every GPU pool as a NodePool and nothing else
manages that capacity; managed-node-group stacks keep GPU node groups with the cluster-autoscaler."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprint.preview.plan import Plan
from components.karpenter import INTERRUPTION_EVENTS, pool_limits
from infra.config import GPU_FAMILIES, GPU_RESOURCE, GPU_TAINT_KEY, ConfigError, parse_config
from tests import fixtures as fx
from tests.conftest import STACKS, plan_for
from tests.fixtures import PROJECT
from tests.k8s_layer import HELM, stack_config

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

KARPENTER = [s for s in STACKS if stack_config(s).node_provisioner == "karpenter"]
NODE_GROUPS = [s for s in STACKS if stack_config(s).node_provisioner == "managed-node-groups"]


def _charts(plan: Plan) -> dict[str, Any]:
    return {str(r.inputs["chart"]).rsplit("/", 1)[-1]: r for r in plan.by_type(HELM)}


def _gpu_groups(plan: Plan) -> list[Any]:
    return [r for r in plan.by_type(NODE_GROUP) if r.inputs.get("taints")]


def test_both_provisioners_stay_exercised() -> None:
    assert KARPENTER
    assert NODE_GROUPS


@pytest.mark.parametrize("stack", KARPENTER)
def test_karpenter_stack_has_no_gpu_node_group_and_one_nodepool_per_gpu_pool(stack: str) -> None:
    plan, cfg = plan_for(stack), stack_config(stack)
    assert not _gpu_groups(plan)
    gpu_pools = {n: p for n, p in cfg.resolved_node_pools().items() if p.gpu}
    pools = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.by_type(NODEPOOL)}
    assert set(pools) == set(gpu_pools)
    # The system pool stays a managed node group, and the autoscaler only sees node groups.
    assert [r.inputs["nodeGroupNamePrefix"] for r in plan.by_type(NODE_GROUP)] == [f"{cfg.system_pool().name}-"]
    for name, spec in pools.items():
        tmpl = spec["template"]["spec"]
        assert {"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"} in tmpl["taints"]
        req = {r["key"]: r["values"] for r in tmpl["requirements"]}
        assert req["karpenter.k8s.aws/instance-gpu-manufacturer"] == ["nvidia"]
        assert set(req["karpenter.k8s.aws/instance-family"]) <= set(GPU_FAMILIES)
        # Limits let maxSize nodes of the largest allowed type run, and no more GPUs than that.
        pool = gpu_pools[name]
        gpus = int(spec["limits"][GPU_RESOURCE])
        assert gpus >= pool.max_size * pool.gpus_per_node
        largest = max(GPU_FAMILIES[f].gpus_by_size.get(s, 0) for f in req["karpenter.k8s.aws/instance-family"]
                      for s in req["karpenter.k8s.aws/instance-size"])  # fmt: skip
        assert gpus == pool.max_size * largest
        assert spec["disruption"]["budgets"]
        assert spec["disruption"]["consolidateAfter"]
        # Serving pools are never repacked mid-request unless a stack opts in.
        assert spec["disruption"]["consolidationPolicy"] == (
            pool.karpenter.consolidation_policy if pool.karpenter else ""
        )


@pytest.mark.parametrize("stack", KARPENTER)
def test_node_classes_close_imds_and_encrypt_volumes(stack: str) -> None:
    plan = plan_for(stack)
    classes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.by_type(NODECLASS)}
    refs = {r.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"] for r in plan.by_type(NODEPOOL)}
    assert refs == set(classes)
    cluster = f"{PROJECT}-{stack}"
    for spec in classes.values():
        # Karpenter tags instance profiles with these: the permissions boundary admits only
        # project-tagged IAM resources (components/deploy_identity.py).
        assert spec["tags"].items() >= stack_config(stack).stack_tags.items()
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert all(d["ebs"]["encrypted"] is True for d in spec["blockDeviceMappings"])
        assert spec["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": cluster}}]
        assert spec["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": cluster}}]
    # The selectors find something: the private subnets and the cluster security group carry the tag.
    tagged = [r for r in plan.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"].get("karpenter.sh/discovery")]
    assert len(tagged) == len(stack_config(stack).network.availability_zones)
    assert all(not r.inputs["mapPublicIpOnLaunch"] for r in tagged)
    (sg_tag,) = [r for r in plan.by_type("aws:ec2/tag:Tag") if r.inputs["key"] == "karpenter.sh/discovery"]
    assert sg_tag.inputs["value"] == cluster


@pytest.mark.parametrize("stack", KARPENTER)
def test_controller_plumbing(stack: str) -> None:
    plan = plan_for(stack)
    charts = _charts(plan)
    crds, ctrl = charts["karpenter-crd"], charts["karpenter"]
    assert crds.urn in ctrl.dependencies
    assert ctrl.inputs["skipCrds"] is True
    assert ctrl.inputs["version"] == crds.inputs["version"]
    values = ctrl.inputs["values"]
    assert values["settings"]["clusterName"] == f"{PROJECT}-{stack}"
    assert values["nodeSelector"]["platform.ai/pool"] == stack_config(stack).system_pool().name
    # Every NodePool and EC2NodeClass waits for the CRDs.
    for r in plan.by_type(NODEPOOL) + plan.by_type(NODECLASS):
        assert crds.urn in r.dependencies
    # Interruption queue: encrypted, fed by every rule, TLS only.
    (queue,) = plan.by_type("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert values["settings"]["interruptionQueue"] == queue.inputs["name"]
    rules = [json.loads(r.inputs["eventPattern"]) for r in plan.by_type("aws:cloudwatch/eventRule:EventRule")]
    assert {tuple(r["detail-type"]) for r in rules} >= {tuple(p["detail-type"]) for p in INTERRUPTION_EVENTS.values()}
    assert len(plan.by_type("aws:cloudwatch/eventTarget:EventTarget")) == len(INTERRUPTION_EVENTS)
    (qp,) = plan.by_type("aws:sqs/queuePolicy:QueuePolicy")
    assert any(s.get("Sid") == "DenyHTTP" for s in json.loads(qp.inputs["policy"])["Statement"])
    # The node role joins as EC2_LINUX.
    entries = [r for r in plan.by_type("aws:eks/accessEntry:AccessEntry") if r.inputs.get("type") == "EC2_LINUX"]
    assert len(entries) == 1


@pytest.mark.parametrize("stack", KARPENTER)
def test_controller_policy_is_scoped_to_the_cluster(stack: str) -> None:
    plan = plan_for(stack)
    cluster = f"{PROJECT}-{stack}"
    policies = [r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if "karpenter-controller" in r.name]
    (doc,) = [json.loads(r.inputs["policy"]) for r in policies]
    for st in doc["Statement"]:
        mutating = any(a.split(":")[1].startswith(("Run", "Create", "Terminate", "Delete")) for a in _actions(st))
        # Anything that changes state names one resource, or is conditioned on this cluster's tags
        # (RunInstances on images/subnets/security groups is bounded by the tagged launch statements).
        one_resource = isinstance(st["Resource"], str) and "*" not in st["Resource"]
        if mutating and not one_resource and st["Sid"] != "AllowScopedEC2InstanceAccessActions":
            assert cluster in json.dumps(st.get("Condition", {})), st["Sid"]
    (pass_role,) = [s for s in doc["Statement"] if s["Sid"] == "AllowPassingInstanceRole"]
    assert pass_role["Resource"] != "*"


def _actions(st: dict[str, Any]) -> list[str]:
    return st["Action"] if isinstance(st["Action"], list) else [st["Action"]]


@pytest.mark.parametrize("stack", NODE_GROUPS)
def test_managed_node_group_stack_keeps_gpu_groups_and_the_autoscaler(stack: str) -> None:
    plan = plan_for(stack)
    assert _gpu_groups(plan)
    assert "cluster-autoscaler" in _charts(plan)
    assert "karpenter" not in _charts(plan)
    assert not plan.by_type(NODEPOOL)
    assert not plan.by_type("aws:sqs/queue:Queue")


def test_limits_follow_the_largest_allowed_type() -> None:
    from components.karpenter import GpuNodePool

    pool = GpuNodePool("p", "al2023", "a10g", 1, 3, 200, ["g5"], ["2xlarge", "12xlarge"], ["spot"], ["a"])
    # 3 × g5.12xlarge: 48 vCPU, 192 GiB, 4 GPUs each.
    assert pool_limits(pool) == {"cpu": "144", "memory": "576Gi", GPU_RESOURCE: "12"}


def _cfg(raw: dict[str, Any]) -> Any:
    secret = [k for k, v in raw.items() if isinstance(v, dict) and set(v) == {"secure"}]
    plain = {k: ("placeholder" if k in secret else v) for k, v in raw.items()}
    return parse_config(plain, secret_keys=secret, source="stacks/Pulumi.prod.yaml")


@pytest.mark.parametrize(
    ("edit", "path", "text"),
    [
        (lambda r: r["nodePools"]["system"].update(karpenter={}), "nodePools.system.karpenter", "CPU pool"),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(karpenter={"instanceSizes": ["2xlarge", "12xlarge"]}),
            "nodePools.gpu-a10g.karpenter.instanceSizes",
            "every family x size must have 1 GPU(s)",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(karpenter={"imagePull": "snapshot"}),
            "nodePools.gpu-a10g.karpenter.imagePull",
            "imageCacheSnapshotId",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(karpenter={"consolidateAfter": "ten minutes"}),
            "nodePools.gpu-a10g.karpenter.consolidateAfter",
            "a duration",
        ),
        # A NodePool has no minimum: a minSize the user expects to keep a warm node is refused, not ignored.
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(minSize=1),
            "nodePools.gpu-a10g.minSize",
            "has no effect on a Karpenter pool",
        ),
        (
            lambda r: r["nodePools"]["gpu-a10g"].update(desiredSize=1, minSize=0),
            "nodePools.gpu-a10g.desiredSize",
            "warmSpares",
        ),
    ],
)
def test_bad_karpenter_settings_name_their_key(
    raw_config: Callable[[str], dict[str, Any]], edit: Callable[[dict[str, Any]], None], path: str, text: str
) -> None:
    raw = raw_config(fx.PROD)
    edit(raw)
    with pytest.raises(ConfigError) as info:
        _cfg(raw)
    assert any(p.path == path and text in p.message for p in info.value.problems), info.value.problems


def test_karpenter_settings_without_karpenter_are_refused(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.PROD)
    raw["nodeProvisioner"] = "managed-node-groups"
    with pytest.raises(ConfigError) as info:
        _cfg(raw)
    assert any("nodeProvisioner is not karpenter" in p.message for p in info.value.problems)


# --------------------------------------------------------------------------- cold start
PROD_COLD_START_BUDGET_SECONDS = 240


def test_every_prod_model_cold_starts_within_budget() -> None:
    from blueprint.preview.analyses import cold_start
    from tests.conftest import ROOT

    models = cold_start.analyse(plan_for(fx.PROD), ROOT).data["models"]
    assert models
    for m in models:
        assert m["seconds"] <= PROD_COLD_START_BUDGET_SECONDS, (m["model"], m["parts"])
        assert m["paths"]["load"] == "streaming"
        assert m["paths"]["pull"] == "cached", "the warm spare pre-pulls the image"


@pytest.mark.parametrize("stack", STACKS)
def test_vllm_models_stream_their_weights(stack: str) -> None:
    cfg = stack_config(stack)
    plan = plan_for(stack)
    deployments = {r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type("kubernetes:apps/v1:Deployment")}
    for name, m in cfg.resolved_models().items():
        if not m.deploy or name not in deployments:
            continue
        spec = deployments[name]["spec"]["template"]["spec"]
        server = spec["containers"][0]
        if m.server == "vllm" and m.source.s3_prefix:
            assert m.weights_load == "stream"
            assert "initContainers" not in spec
            args = server["args"]
            assert args[args.index("--load-format") + 1] == "runai_streamer"
            assert any(str(a).startswith("s3://") for a in args)
            env = {e["name"]: e["value"] for e in server["env"]}
            assert env["AWS_EC2_METADATA_DISABLED"] == "true"
            assert not any(v["name"] == "models" for v in spec["volumes"])
        elif m.source.s3_prefix:
            assert spec["initContainers"][0]["name"] == "fetch-model"


@pytest.mark.parametrize("stack", STACKS)
def test_warm_spares_give_way_to_real_replicas(stack: str) -> None:
    cfg, plan = stack_config(stack), plan_for(stack)
    spares = {
        r.inputs["metadata"]["labels"]["platform.ai/warm-spare-for"]: r.inputs
        for r in plan.by_type("kubernetes:apps/v1:Deployment")
        if "platform.ai/warm-spare-for" in r.inputs["metadata"]["labels"]
    }
    assert set(spares) == {n for n, m in cfg.resolved_models().items() if m.deploy and m.warm_spares}
    classes = {
        r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    }
    for name, d in spares.items():
        spec = d["spec"]["template"]["spec"]
        pc = classes[spec["priorityClassName"]]
        assert pc["value"] < 0
        assert pc["preemptionPolicy"] == "Never"
        assert spec["terminationGracePeriodSeconds"] == 0
        assert "platform.ai/model" not in d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["replicas"] == cfg.resolved_models()[name].warm_spares


@pytest.mark.parametrize("stack", STACKS)
def test_each_node_role_a_stack_runs_is_an_output_the_stack_add_note_names(stack: str) -> None:
    """A stack sharing an account and region lists its node roles in the registry-settings owner's
    pullThroughPrincipalArns from its outputs: every node role is exported, and the note names each output."""
    from blueprint.upkeep.stack_add import NODE_ROLE_OUTPUTS, registry_owner_note

    plan = plan_for(stack)
    managed, karpenter = NODE_ROLE_OUTPUTS
    roles = {r.name: r.outputs["arn"] for r in plan.by_type("aws:iam/role:Role")}
    assert plan.outputs[managed] == roles["cluster-node-role"]
    if stack in KARPENTER:
        assert plan.outputs[karpenter] == roles["karpenter-node-role"]
    else:
        assert karpenter not in plan.outputs
    note = registry_owner_note("b", "a", "123456789012", "us-east-1")
    assert all(output in note for output in NODE_ROLE_OUTPUTS)
