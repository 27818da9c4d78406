"""The Cluster component under mocks, through the committed stacks."""

from __future__ import annotations

import json

import pytest

from blueprint.preview.plan import Plan, is_secret
from components.cluster import LOG_TYPES, STORAGE_CLASS, kubeconfig_json
from tests import fixtures as fx
from tests.conftest import stack_raw
from tests.fixtures import PROJECT

EKS = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"


def _eks(plan: Plan):  # type: ignore[no-untyped-def]
    (eks,) = plan.by_type(EKS)
    return eks


def test_control_plane_is_private_encrypted_and_fully_logged(stack_plan: Plan) -> None:
    eks = _eks(stack_plan)
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks.inputs["enabledClusterLogTypes"] == list(LOG_TYPES)
    assert eks.inputs["encryptionConfig"]["resources"] == ["secrets"]
    key = stack_plan.get("aws:kms/key:Key", "cluster-key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.urn in eks.property_dependencies["encryptionConfig"]
    # Only private subnets carry the control plane's ENIs.
    private = {s.outputs["id"] for s in stack_plan.by_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(eks.inputs["vpcConfig"]["subnetIds"]) == private


def test_key_policy_lets_the_cluster_role_and_logs_use_the_key(stack_plan: Plan) -> None:
    key = stack_plan.get("aws:kms/key:Key", "cluster-key")
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    role = stack_plan.get("aws:iam/role:Role", "cluster-role")
    assert statements["ClusterRoleEncryptsSecrets"]["Principal"]["AWS"] == role.outputs["arn"]
    assert "kms:Decrypt" in statements["ClusterRoleEncryptsSecrets"]["Action"]
    ctx = statements["CloudWatchLogsEncryptsControlPlaneLogs"]["Condition"]["ArnEquals"]
    assert next(iter(ctx.values())).endswith(f":log-group:/aws/eks/{_eks(stack_plan).inputs['name']}/cluster")


def test_log_group_is_ours_and_exists_before_the_cluster(stack_plan: Plan) -> None:
    eks = _eks(stack_plan)
    group = stack_plan.get("aws:cloudwatch/logGroup:LogGroup", "cluster-logs")
    assert group.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster"
    assert group.inputs["retentionInDays"] > 0
    assert group.urn in eks.dependencies


def test_access_is_api_only_with_admins_from_config(stack_plan: Plan) -> None:
    eks = _eks(stack_plan)
    assert eks.inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    admins = stack_raw(stack_plan.stack)["cluster"]["adminRoleArns"]
    # The cluster's admin entries (it also holds the preview role's read-only "viewer" entry).
    entries = [e for e in stack_plan.by_type("aws:eks/accessEntry:AccessEntry") if "-admin-" in e.name]
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(admins)
    assocs = [
        a for a in stack_plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation") if "-admin-" in a.name
    ]
    assert sorted(a.inputs["principalArn"] for a in assocs) == sorted(admins)
    for a in assocs:
        assert a.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
        assert a.inputs["accessScope"] == {"type": "cluster"}


def test_public_endpoint_only_with_an_allowlist(stack_plan: Plan) -> None:
    vpc = _eks(stack_plan).inputs["vpcConfig"]
    if vpc["endpointPublicAccess"]:
        assert vpc["publicAccessCidrs"]
        assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]
    else:
        assert not vpc.get("publicAccessCidrs")


def test_dev_public_endpoint_uses_the_configured_cidrs(dev_plan: Plan) -> None:
    vpc = _eks(dev_plan).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == stack_raw(fx.DEV)["cluster"]["publicAccessCidrs"]


def test_oidc_provider_uses_the_cluster_issuer(stack_plan: Plan) -> None:
    (oidc,) = [
        o
        for o in stack_plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        if "platform:index:Cluster$" in o.urn
    ]
    issuer = _eks(stack_plan).outputs["identities"][0]["oidcs"][0]["issuer"]
    assert oidc.inputs["url"] == issuer
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_pre_node_addons_come_before_every_node_group(stack_plan: Plan) -> None:
    addons = {a.inputs["addonName"]: a for a in stack_plan.by_type(ADDON)}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    roles = {r.outputs["arn"]: r for r in stack_plan.by_type("aws:iam/role:Role")}
    cni_role = roles[addons["vpc-cni"].inputs["serviceAccountRoleArn"]]
    assert "system:serviceaccount:kube-system:aws-node" in cni_role.inputs["assumeRolePolicy"]
    assert any(
        a.inputs["policyArn"].endswith("/AmazonEKS_CNI_Policy") and cni_role.urn in a.dependencies
        for a in stack_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    for ng in stack_plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        for name in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
            assert addons[name].urn in ng.dependencies
    for a in addons.values():
        assert a.inputs["resolveConflictsOnCreate"] == a.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
    # No self-managed copies for the managed add-ons to fight with.
    assert _eks(stack_plan).inputs["bootstrapSelfManagedAddons"] is False


def test_kubernetes_provider_gets_a_secret_exec_kubeconfig_after_admin_access(stack_plan: Plan) -> None:
    (provider,) = stack_plan.by_type("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert provider.inputs["enableServerSideApply"] == "true"
    assocs = {
        a.urn
        for a in stack_plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if "-admin-" in a.name  # the admins' associations, not the read-only viewer's
    }
    assert assocs
    assert assocs <= set(provider.dependencies)
    assert is_secret(stack_plan.outputs["kubeconfig"])


def test_kubeconfig_runs_aws_eks_get_token() -> None:
    doc = json.loads(kubeconfig_json("c1", "https://x.eks.amazonaws.com", "Q0E=", "us-west-2"))
    user = doc["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:4] == ["eks", "get-token", "--cluster-name", "c1"]
    assert user["args"][user["args"].index("--region") + 1] == "us-west-2"
    assert doc["clusters"][0]["cluster"]["server"] == "https://x.eks.amazonaws.com"


def test_default_storage_class_is_encrypted_gp3(stack_plan: Plan) -> None:
    (sc,) = stack_plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["metadata"]["name"] == STORAGE_CLASS
    assert sc.inputs["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"]["type"] == "gp3"
    assert sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["allowVolumeExpansion"] is True
    protect = stack_raw(stack_plan.stack)["protectStatefulResources"]
    assert sc.inputs["reclaimPolicy"] == ("Retain" if protect else "Delete")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_protected_stacks_protect_cluster_key_and_logs(stack: str) -> None:
    from tests.conftest import plan_for

    plan = plan_for(stack)
    eks = _eks(plan)
    assert eks.protect
    assert eks.inputs["deletionProtection"] is True
    for typ, name in (("aws:kms/key:Key", "cluster-key"), ("aws:cloudwatch/logGroup:LogGroup", "cluster-logs")):
        r = plan.get(typ, name)
        assert r.protect
        assert r.retain_on_delete


def test_dev_protects_nothing(dev_plan: Plan) -> None:
    assert not _eks(dev_plan).protect
    assert not dev_plan.get("aws:kms/key:Key", "cluster-key").protect


def test_a_public_endpoint_without_an_allowlist_is_refused() -> None:
    from components.cluster import Cluster, ClusterArgs

    args = ClusterArgs(
        cluster_name="c", version="1.35", network=None,  # type: ignore[arg-type]
        region="us-west-2", account_id="111111111111", endpoint_public_access=True,
    )  # fmt: skip
    with pytest.raises(ValueError, match="explicit allowlist"):
        Cluster("c", args)


def test_access_entries_wait_for_the_deploy_identities(stack_plan: Plan) -> None:
    """EKS refuses an access entry for a role that does not exist yet: the entries depend on them."""
    deploy_role = stack_plan.get("aws:iam/role:Role", "delivery-deploy-role")
    preview_role = stack_plan.get("aws:iam/role:Role", "delivery-preview-role")
    entries = stack_plan.by_type("aws:eks/accessEntry:AccessEntry")
    assert entries
    for e in entries:
        if e.inputs.get("type") == "EC2_LINUX":
            continue  # Karpenter's node role: created in the same program, not an identity being deployed
        assert deploy_role.urn in e.dependencies, e.name
        assert preview_role.urn in e.dependencies, e.name
    (viewer,) = [e for e in entries if "-viewer-" in e.name]
    assert viewer.inputs["principalArn"].endswith(f":role/{PROJECT}-preview-{stack_plan.stack}")
