"""Fixture rows of the policies in policy/ai_platform_policies/registry.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    ENDPOINT,
    LIFECYCLE,
    REPO,
    REPO_OK,
    REPO_POLICY,
    case,
    deep,
    merged,
    without,
)
from tests.policy.harness import R

case(
    "ecr-repository-scan-on-push",
    R(REPO, REPO_OK, "repo"),
    R(REPO, deep(REPO_OK, "imageScanningConfiguration.scanOnPush", False), "repo"),
    "set registry.scanning: basic (scan on push) or enhanced in stacks/Pulumi.<stack>.yaml",
    R(REPO, without(REPO_OK, "imageScanningConfiguration"), "repo"),
    True,
)
# ENHANCED registry scanning covering the repository also passes (second compliant shape, tested in test_policies).
case(
    "ecr-repository-immutable-tags",
    R(REPO, REPO_OK),
    R(REPO, merged(REPO_OK, imageTagMutability="MUTABLE")),
    "set registry.imageTagMutability: IMMUTABLE",
    R(REPO, without(REPO_OK, "imageTagMutability")),
    True,
)
case(
    "ecr-repository-kms-encryption",
    R(REPO, REPO_OK),
    R(REPO, merged(REPO_OK, encryptionConfigurations=[{"encryptionType": "AES256"}])),
    "set encryptionConfigurations: [{encryptionType: KMS",
    R(REPO, without(REPO_OK, "encryptionConfigurations")),
    True,
    requireCustomerManagedKey=True,
)
PUBLIC_STMT = {"Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]}
case(
    "ecr-repository-policy-no-public-principal",
    R(
        REPO_POLICY,
        {
            "repository": "vllm",
            "policy": '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/node"}, "Action": "ecr:BatchGetImage"}]}',
        },
    ),
    R(REPO_POLICY, {"repository": "vllm", "policy": {"Statement": [PUBLIC_STMT]}}),
    "name the node role / IRSA roles as principals",
    R(REPO_POLICY, {"repository": "vllm"}),
    False,
)
case(
    "ecr-repository-lifecycle-policy",
    [
        R(REPO, REPO_OK, "repo"),
        R(LIFECYCLE, {"repository": "vllm", "policy": "{}"}, "lc", deps={"repository": ["repo"]}),
    ],
    [R(REPO, REPO_OK, "repo")],
    "has no lifecycle policy: create an aws.ecr.LifecyclePolicy",
    [R(REPO, REPO_OK, "repo"), R(LIFECYCLE, {"policy": "{}"}, "lc")],
    True,
)
ENDPOINTS = [
    R(ENDPOINT, {"serviceName": f"com.amazonaws.us-west-2.{s}"}, f"ep-{s}") for s in ("ecr.api", "ecr.dkr", "s3")
]
case(
    "ec2-vpc-endpoint-ecr-private",
    [R(REPO, REPO_OK, "repo"), *ENDPOINTS],
    [R(REPO, REPO_OK, "repo"), ENDPOINTS[2]],
    "set network.vpcEndpoints: true",
    [R(REPO, REPO_OK, "repo"), R(ENDPOINT, {}, "ep")],
    True,
)
