"""The ClusterAddons component under mocks: the add-ons whose pods need nodes."""

from __future__ import annotations

import json

from blueprint.preview.plan import Plan

ADDON = "aws:eks/addon:Addon"


def test_all_five_addons_exist_once(stack_plan: Plan) -> None:
    names = sorted(a.inputs["addonName"] for a in stack_plan.by_type(ADDON))
    assert names == sorted(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"])


def test_coredns_and_ebs_csi_wait_for_every_node_group(stack_plan: Plan) -> None:
    groups = {ng.urn for ng in stack_plan.by_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups
    for addon in stack_plan.by_type(ADDON):
        if addon.inputs["addonName"] in ("coredns", "aws-ebs-csi-driver"):
            assert groups <= set(addon.dependencies), addon.name


def test_ebs_csi_has_its_own_irsa_role_and_tolerates_the_gpu_taint(stack_plan: Plan) -> None:
    (ebs,) = [a for a in stack_plan.by_type(ADDON) if a.inputs["addonName"] == "aws-ebs-csi-driver"]
    assert json.loads(ebs.inputs["configurationValues"])["node"]["tolerateAllTaints"] is True
    role = next(
        r for r in stack_plan.by_type("aws:iam/role:Role") if r.outputs["arn"] == ebs.inputs["serviceAccountRoleArn"]
    )
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in json.dumps(trust["Condition"])
    attached = [
        a.inputs["policyArn"]
        for a in stack_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if role.urn in a.dependencies
    ]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
