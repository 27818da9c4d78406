"""Fixture rows of the policies in policy/ai_platform_policies/tagging.py, registered into CASES."""

from __future__ import annotations

from tests.policy.cases_common import (
    GOOD,
    LT,
    LT_OK,
    PROVIDER,
    REPO,
    REPO_OK,
    TAGS,
    VPC,
    case,
    deep,
    dep,
    deployment,
    merged,
    without,
)
from tests.policy.harness import R

DEFAULT_TAGS = '{"tags": ' + __import__("json").dumps(TAGS) + "}"
case(
    "aws-resource-required-tags",
    [
        R(PROVIDER, {"region": "us-west-2", "defaultTags": DEFAULT_TAGS}, "aws"),
        R(VPC, {"tags": {"Name": "vpc"}}, "vpc", provider="aws"),
    ],
    R(VPC, {"tags": {"Name": "vpc", "owner": "ml"}}, "vpc"),
    "lacks tag(s) cost-center, project, environment, managed-by: set them",
    R(VPC, {}, "vpc"),
    True,
    environment="dev",
)
case(
    "ec2-launch-template-tag-propagation",
    R(LT, LT_OK),
    R(LT, merged(LT_OK, tagSpecifications=[{"resourceType": "instance", "tags": TAGS}])),
    "does not tag the volume it launches",
    R(LT, without(LT_OK, "tagSpecifications")),
    True,
)
case(
    "k8s-workload-recommended-labels",
    GOOD,
    dep(deep(deployment(), "metadata.labels", {"app.kubernetes.io/name": "llama"})),
    "lacks label(s) app.kubernetes.io/part-of, team",
    dep(without(deployment(), "metadata.labels")),
    True,
)
case(
    "stack-unique-physical-names",
    [R(REPO, REPO_OK, "a"), R(REPO, merged(REPO_OK, name="other"), "b")],
    [R(REPO, REPO_OK, "a"), R(REPO, REPO_OK, "b")],
    "derive names from the component name and stack",
    [R(REPO, without(REPO_OK, "name"), "a"), R(REPO, without(REPO_OK, "name"), "b")],
    False,
)
