"""``blueprint preflight`` against moto over HTTP, and against botocore's Stubber where moto has no API.

moto 5.2 implements STS and the EC2 calls used here (regions, AZs, instance type offerings and
instance types with GpuInfo), but not EC2 quotas in Service Quotas (it only knows ``vpc``) nor
EKS ``DescribeClusterVersions``. Those paths are tested with ``Stubber``, which validates every
request and response against the real API models.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from blueprint.ops import _aws
from blueprint.ops.preflight import (
    EXIT_NOT_BOOTSTRAPPED,
    FAIL,
    OK,
    WARN,
    Check,
    check_instance_types,
    check_kubernetes_version,
    run_checks,
)
from tests import fixtures as fx
from tests.fixtures import PROJECT
from tests.ops.conftest import REGION, Faults, Result, account_profile, assert_one_line_error, client

DEV = fx.DEV
DEV_ACCOUNT = fx.account(DEV)


def _rows(out: str) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    last = None
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) != 3:
            continue
        if cells[1] in (OK, WARN, FAIL):
            last = cells[0]
            rows[last] = (cells[1], cells[2])
        elif last and not cells[0] and not cells[1]:  # a wrapped reason
            rows[last] = (rows[last][0], f"{rows[last][1]} {cells[2]}")
    return rows


def _stubbed(service: str) -> tuple[Any, Stubber]:
    c = botocore.session.get_session().create_client(
        service, region_name=REGION, aws_access_key_id="stub", aws_secret_access_key="stub"
    )
    return c, Stubber(c)


ADMIN_ROLE = "ml-platform-admins"  # in stacks/Pulumi.dev.yaml's cluster.adminRoleArns
BUCKET = f"{PROJECT}-dev-artifacts-20261201000000000000000001"
WEIGHTS = "models/llama-3-8b/model.safetensors"


def manifest(tag: str) -> str:
    """A distinct image manifest per tag (ECR derives the digest from it)."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": [],
        "annotations": {"org.opencontainers.image.version": tag},
    })  # fmt: skip


@pytest.fixture(autouse=True)
def wide_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so that table cells rarely fold (rich reads COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def fake_aws_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Put an ``aws`` printing ``version`` first on PATH (None: no ``aws`` at all)."""

    def install(version: str | None) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        aws = bin_dir / "aws"
        if version is None:
            aws.unlink(missing_ok=True)
            monkeypatch.setenv("PATH", str(bin_dir))
            return
        aws.write_text(f"#!/bin/sh\necho '{version} Python/3.13.7 Linux/6.8 exe/x86_64.ubuntu.24'\n")
        aws.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    install("aws-cli/2.31.21")
    return install


@pytest.fixture
def dev_creds(aws_env: str, fake_aws_cli: Callable[[str | None], None]) -> dict[str, str]:
    """The dev-tier stack's account as the admitted administrator role, saved as profile ``dev``."""
    return account_profile(aws_env, DEV_ACCOUNT, "dev", role=ADMIN_ROLE)


@pytest.fixture
def dev_profile(dev_creds: dict[str, str], bootstrapped: None) -> str:
    """Profile ``dev``: the administrator in a bootstrapped dev account with the models' artifacts."""
    return "dev"


def _in_dev(service: str, aws_env: str, creds: dict[str, str]) -> Any:
    return client(service, aws_env, **creds)


@pytest.fixture
def bootstrapped(aws_env: str, dev_creds: dict[str, str]) -> None:
    """dev after the administrator's first up and the image and weight pushes it asks for."""
    iam = _in_dev("iam", aws_env, dev_creds)
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for role in (ADMIN_ROLE, f"{PROJECT}-preview-dev", f"{PROJECT}-deploy-dev"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    ecr = _in_dev("ecr", aws_env, dev_creds)
    ecr.create_repository(repositoryName="vllm")
    for tag in ("v0.11.0", "v0.11.1"):
        ecr.put_image(repositoryName="vllm", imageManifest=manifest(tag), imageTag=tag)
    s3 = _in_dev("s3", aws_env, dev_creds)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key=WEIGHTS, Body=b"weights")
    s3.put_object(Bucket=BUCKET, Key="models/llama-3-8b/config.json", Body=b"{}")


def _lines(out: str) -> dict[str, str]:
    """``check -> STATUS reason`` from the whole-line problem list under the table."""
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        if status in (WARN, FAIL) and ": " in rest:
            name, _, reason = rest.partition(": ")
            found[name] = f"{status} {reason}"
    return found


def test_dev_stack_in_its_account(cli: Callable[..., Result], dev_profile: str) -> None:
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 0, res.out + res.err
    rows = _rows(res.out)
    assert rows["account"][0] == OK
    assert rows["admission"][0] == OK
    assert rows["admin role ml-platform-admins"][0] == OK
    assert rows["aws cli"] == (OK, "aws-cli/2.31.21")
    assert rows["bootstrap"] == (OK, f"{PROJECT}-preview-dev exists")
    assert rows["github oidc provider"] == (OK, "none in the account; this stack creates it")
    assert rows[f"region {REGION}"][0] == OK
    assert rows["availability zones"] == (OK, "us-west-2a, us-west-2b")
    for pool in ("system", "gpu-a10g", "gpu-l4"):
        assert rows[f"pool {pool}: offerings"][0] == OK
    assert rows["pool gpu-a10g: GPUs"][0] == OK
    assert "g5.2xlarge: 1 × A10G, 8 vCPUs" in rows["pool gpu-a10g: GPUs"][1]
    assert "pool system: GPUs" not in rows
    # moto has no EC2 quotas: the quota degrades to a warning.
    assert rows["quota All G and VT Spot Instance Requests"][0] == WARN
    assert "needs 32 vCPUs" in rows["quota All G and VT Spot Instance Requests"][1]
    assert rows["image llama-3-8b"][0] == OK
    assert rows["image llama-3-8b"][1].startswith("vllm:v0.11.0 -> sha256:")
    assert rows["image llama-3-8b canary"][0] == OK
    assert rows["weights llama-3-8b"][0] == OK
    assert f"2 object(s), 0.0 GiB under s3://{BUCKET}/models/llama-3-8b/" in rows["weights llama-3-8b"][1]
    assert "0 failure(s)" in res.out


def test_wrong_account_fails(cli: Callable[..., Result]) -> None:
    res = cli("preflight", DEV)  # the ambient test credentials belong to moto's default account
    assert res.code == 1
    status, reason = _rows(res.out)["account"]
    assert status == FAIL
    assert "account 123456789012" in reason
    assert f"deploys to {DEV_ACCOUNT}" in reason


def test_unknown_az_fails(cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]) -> None:
    project(DEV, lambda c: c["network"].update(availabilityZones=["us-west-2a", "us-west-2z"]))
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    status, reason = _rows(res.out)["availability zones"]
    assert status == FAIL
    assert reason.startswith("not in us-west-2: us-west-2z")


def test_type_not_offered_in_the_pool_azs_fails(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    # moto's offerings data (like us-west-2 today) has p5e.48xlarge only in us-west-2c.
    project(DEV, lambda c: c["nodePools"]["gpu-a10g"].update(instanceTypes=["p5e.48xlarge"]))
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    rows = _rows(res.out)
    assert rows["pool gpu-a10g: offerings"] == (FAIL, "p5e.48xlarge is offered in none of us-west-2a, us-west-2b")
    assert rows["pool gpu-l4: offerings"][0] == OK
    assert rows["quota All P5 Spot Instance Requests"][0] == WARN, "p5 spot has its own quota"


def test_type_missing_in_one_az_warns(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    project(DEV, lambda c: c["network"].update(availabilityZones=["us-west-2a", "us-west-2b", "us-west-2d"]))
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 0, res.out
    status, reason = _rows(res.out)["pool gpu-a10g: offerings"]
    assert status == WARN
    assert "g5.xlarge not offered in us-west-2d" in reason


def test_unknown_stack_is_a_usage_error(cli: Callable[..., Result]) -> None:
    unknown = fx.unused_stack_name()
    res = cli("preflight", unknown)
    assert res.code == 2
    known = ", ".join(fx.STACKS)
    assert res.err == f"usage error: blueprint preflight: unknown stack '{unknown}'; known stacks: {known}\n"


def test_no_credentials_is_one_line(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert_one_line_error(cli("preflight", DEV), "error: no AWS credentials found")


def test_access_denied_on_identity_is_one_line(cli: Callable[..., Result], faults: Faults) -> None:
    faults.add("sts", "GetCallerIdentity", "AccessDenied", status=403)
    assert_one_line_error(cli("preflight", DEV), "error: access denied calling GetCallerIdentity (AccessDenied)")


def test_access_denied_on_one_check_is_a_fail_row(cli: Callable[..., Result], dev_profile: str, faults: Faults) -> None:
    faults.add("ec2", "DescribeInstanceTypes", "UnauthorizedOperation", status=403)
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    rows = _rows(res.out)
    assert rows["instance types"][0] == FAIL
    assert "access denied calling DescribeInstanceTypes" in rows["instance types"][1]
    assert rows["availability zones"][0] == OK, "the other checks still ran"


def test_throttled_ec2_calls_are_retried(cli: Callable[..., Result], dev_profile: str, faults: Faults) -> None:
    faults.add("ec2", "DescribeInstanceTypeOfferings", "RequestLimitExceeded", status=503, times=3)
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 0, res.out + res.err
    assert faults.fired("RequestLimitExceeded") == 3


# --------------------------------------------------------------------------- Stubber: real API shapes
def _quota(code: str, value: float) -> dict[str, Any]:
    return {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "QuotaName": "q", "Value": value, "Unit": "None",
                      "Adjustable": True, "GlobalQuota": False}}  # fmt: skip


@pytest.mark.parametrize(("value", "status"), [(32.0, OK), (24.0, FAIL)])
def test_gpu_spot_quota_must_cover_every_pool_at_max_size(
    value: float, status: str, dev_profile: str, aws_env: str
) -> None:
    from blueprint.ops._aws import load_stack_config

    cfg = load_stack_config(DEV)
    sq, sq_stub = _stubbed("service-quotas")
    # dev: gpu-a10g and gpu-l4 are SPOT, maxSize 2, largest type 8 vCPUs: 2×8 + 2×8 = 32.
    sq_stub.add_response(
        "get_service_quota", _quota("L-3819A6DF", value), {"ServiceCode": "ec2", "QuotaCode": "L-3819A6DF"}
    )
    eks, eks_stub = _stubbed("eks")
    eks_stub.add_client_error("describe_cluster_versions", "AccessDeniedException", http_status_code=403)
    aws = _aws.connect(REGION, profile=dev_profile)
    stubs = {"service-quotas": sq, "eks": eks}
    with sq_stub, eks_stub:
        checks = run_checks(cfg, lambda s: stubs.get(s) or aws.client(s)).checks
        sq_stub.assert_no_pending_responses()
    (q,) = [c for c in checks if c.name.startswith("quota ")]
    assert q.status == status
    assert "needs 32 vCPUs (gpu-a10g 2×8, gpu-l4 2×8), quota" in q.detail


def test_on_demand_p_pool_reads_the_p_quota(dev_profile: str, project: Callable[..., None]) -> None:
    from blueprint.ops._aws import load_stack_config
    from blueprint.ops.preflight import check_quotas

    project(
        "dev", lambda c: c["nodePools"]["gpu-a10g"].update(instanceTypes=["p4d.24xlarge"], capacityType="ON_DEMAND")
    )
    pools = load_stack_config(DEV).resolved_node_pools().values()
    sq, stub = _stubbed("service-quotas")
    stub.add_response(
        "get_service_quota", _quota("L-417A185B", 96.0), {"ServiceCode": "ec2", "QuotaCode": "L-417A185B"}
    )
    stub.add_response(
        "get_service_quota", _quota("L-3819A6DF", 16.0), {"ServiceCode": "ec2", "QuotaCode": "L-3819A6DF"}
    )
    with stub:
        checks = check_quotas(pools, {"p4d.24xlarge": 96, "g6.xlarge": 4, "g6.2xlarge": 8}, sq)
    by_name = {c.name: c for c in checks}
    assert by_name["quota Running On-Demand P instances"].status == FAIL  # 2 nodes × 96 > 96
    assert by_name["quota All G and VT Spot Instance Requests"].status == OK  # 2 × 8 <= 16


def _instance_type(name: str, vcpus: int, gpus: list[dict[str, Any]] | None) -> dict[str, Any]:
    it: dict[str, Any] = {"InstanceType": name, "VCpuInfo": {"DefaultVCpus": vcpus}}
    if gpus is not None:
        it["GpuInfo"] = {"Gpus": gpus}
    return it


@pytest.mark.parametrize(
    ("gpus", "reason"),
    [
        (None, "g5.2xlarge has no NVIDIA GPUs"),
        ([{"Name": "Radeon Pro V520", "Manufacturer": "AMD", "Count": 1}], "g5.2xlarge has no NVIDIA GPUs"),
        ([{"Name": "A10G", "Manufacturer": "NVIDIA", "Count": 4}], "g5.2xlarge has 4 GPUs, the config assumes 1"),
    ],
)
def test_gpu_pool_types_must_really_have_the_gpus(
    gpus: list[dict[str, Any]] | None, reason: str, project: Callable[..., None]
) -> None:
    from blueprint.ops._aws import load_stack_config

    # The test's own pools (not the stack's): one CPU pool and one GPU pool of a single type.
    pools_of_test = {
        "system": {"instanceTypes": ["m6i.large", "m7i.large"], "minSize": 2, "maxSize": 4},
        "gpu-a10g": {"instanceTypes": ["g5.2xlarge"], "minSize": 0, "maxSize": 2},
    }
    project(DEV, lambda c: c.update(nodePools=pools_of_test))
    pools = load_stack_config(DEV).resolved_node_pools().values()
    ec2, stub = _stubbed("ec2")
    stub.add_response(
        "describe_instance_types",
        {
            "InstanceTypes": [
                _instance_type("g5.2xlarge", 8, gpus),
                _instance_type("m6i.large", 2, None),
                _instance_type("m7i.large", 2, None),
            ]
        },
        {"InstanceTypes": ["g5.2xlarge", "m6i.large", "m7i.large"]},
    )
    vcpus: dict[str, int] = {}
    with stub:
        (row,) = check_instance_types(pools, ec2, vcpus)
    assert row == Check("pool gpu-a10g: GPUs", FAIL, row.detail)
    assert row.detail.startswith(reason)
    assert vcpus["g5.2xlarge"] == 8


@pytest.mark.parametrize(
    ("version_status", "support_type", "status", "reason"),
    [
        ("STANDARD_SUPPORT", None, OK, "standard support until 2027-03-27 (115 days)"),
        ("EXTENDED_SUPPORT", "EXTENDED", WARN, "extended support only"),
        ("EXTENDED_SUPPORT", None, FAIL, "supportType is STANDARD: EKS upgrades the control plane by itself"),
        ("UNSUPPORTED", "EXTENDED", FAIL, "EKS status UNSUPPORTED"),
    ],
)
def test_kubernetes_version_support_from_eks(
    version_status: str, support_type: str | None, status: str, reason: str
) -> None:
    eks, stub = _stubbed("eks")
    stub.add_response(
        "describe_cluster_versions",
        {
            "clusterVersions": [
                {
                    "clusterVersion": "1.35",
                    "clusterType": "eks",
                    "versionStatus": version_status,
                    "endOfStandardSupportDate": dt.datetime(2027, 3, 27, tzinfo=dt.UTC),
                }
            ]
        },
        {"clusterVersions": ["1.35"], "includeAll": True},
    )
    with stub:
        check = check_kubernetes_version("1.35", eks, support_type, today=dt.date(2026, 12, 2))
    assert check.status == status
    assert reason in check.detail


def test_kubernetes_version_eks_does_not_offer() -> None:
    eks, stub = _stubbed("eks")
    stub.add_response(
        "describe_cluster_versions", {"clusterVersions": []}, {"clusterVersions": ["1.35"], "includeAll": True}
    )
    with stub:
        assert check_kubernetes_version("1.35", eks).status == FAIL


def test_moto_has_no_ec2_quotas() -> None:
    """Guards the comment above: when moto learns EC2 quotas, test them over HTTP instead."""
    sq = client("service-quotas", _aws.os.environ[_aws.ENDPOINT_ENV])
    with pytest.raises(sq.exceptions.NoSuchResourceException):
        sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-3819A6DF")


# --------------------------------------------------------------------------- end of standard support (11.9)
@pytest.mark.parametrize(
    ("version", "today", "support_type", "status", "reason"),
    [
        ("1.35", dt.date(2026, 12, 2), None, OK, "standard support until 2027-03-27 (115 days)"),
        ("1.35", dt.date(2027, 1, 25), None, OK, "(61 days)"),
        ("1.35", dt.date(2027, 1, 26), None, WARN, "ends 2027-03-27 (in 60 days)"),
        ("1.35", dt.date(2027, 1, 27), None, WARN, "ends 2027-03-27 (in 59 days) and supportType is STANDARD"),
        ("1.35", dt.date(2027, 1, 27), "EXTENDED", WARN, "extended support (extra hourly charge) then runs to 2028"),
        ("1.34", dt.date(2026, 12, 2), "STANDARD", FAIL, "standard support ended 2026-12-02"),
        ("1.34", dt.date(2026, 12, 2), "EXTENDED", WARN, "in extended support (extra hourly charge) until 2027-12-02"),
        ("1.31", dt.date(2026, 12, 2), "EXTENDED", FAIL, "extended support ended 2026-11-26"),
        ("1.36", dt.date(2026, 12, 2), None, WARN, "no support dates known offline for 1.36"),
    ],
)
def test_end_of_standard_support_from_the_offline_calendar(
    version: str, today: dt.date, support_type: str | None, status: str, reason: str
) -> None:
    eks, stub = _stubbed("eks")
    stub.add_client_error("describe_cluster_versions", "AccessDeniedException", http_status_code=403)
    with stub:
        check = check_kubernetes_version(version, eks, support_type, today=today)
    assert check.status == status, check.detail
    assert reason in check.detail
    if status == WARN and support_type is None and "ends" in reason:
        assert "cluster.supportType unset" in check.detail
        assert "upgrade cluster.version before then" in check.detail
    assert "(EKS not asked: AccessDeniedException; offline calendar)" in check.detail


def test_every_version_the_config_accepts_has_dates_or_warns() -> None:
    from blueprint.ops.eks_support import SUPPORT_CALENDAR, WARN_DAYS, judge
    from infra.config import EKS_STANDARD_SUPPORT_VERSIONS

    for version in EKS_STANDARD_SUPPORT_VERSIONS:
        support = SUPPORT_CALENDAR.get(version)
        verdict = judge(version, support, None, dt.date(2026, 12, 1))
        assert verdict.status in (OK, WARN, FAIL)
        if support is None:
            assert verdict.status == WARN
    ordered = [SUPPORT_CALENDAR[v] for v in sorted(SUPPORT_CALENDAR, key=lambda v: tuple(map(int, v.split("."))))]
    assert all(a.end_of_standard < b.end_of_standard for a, b in itertools.pairwise(ordered))
    assert all(s.end_of_extended > s.end_of_standard for s in ordered)
    assert WARN_DAYS == 60


# --------------------------------------------------------------------------- admission (19.5)
def test_a_caller_the_cluster_does_not_admit_fails(
    cli: Callable[..., Result], aws_env: str, bootstrapped: None
) -> None:
    account_profile(aws_env, DEV_ACCOUNT, "someone", role="data-scientists")
    res = cli("preflight", DEV, "--profile", "someone")
    assert res.code == 1
    assert _rows(res.out)["admission"][0] == FAIL
    line = _lines(res.out)["admission"]
    assert "assumed-role/data-scientists/ops-test is not a principal the cluster admits" in line
    assert (
        f"arn:aws:iam::{DEV_ACCOUNT}:role/ml-platform-admins, arn:aws:iam::{DEV_ACCOUNT}:role/{PROJECT}-deploy-dev"
        in line
    )
    assert f"aws sts assume-role --role-arn arn:aws:iam::{DEV_ACCOUNT}:role/ml-platform-admins" in line


def test_ci_preflight_as_the_preview_role_checks_the_deploy_role(
    cli: Callable[..., Result], aws_env: str, bootstrapped: None
) -> None:
    account_profile(aws_env, DEV_ACCOUNT, "ci", role=f"{PROJECT}-preview-dev")
    res = cli("preflight", DEV, "--profile", "ci")
    assert res.code == 0, res.out + res.err
    rows = _rows(res.out)
    assert rows["admission"] == (
        OK,
        f"caller is the preview role (CI); the deploy job acts as arn:aws:iam::{DEV_ACCOUNT}:role/{PROJECT}-deploy-dev",
    )
    assert rows["bootstrap"] == (OK, f"running as {PROJECT}-preview-dev")


def test_an_admitted_role_that_does_not_exist_fails(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    project(DEV, lambda c: c["cluster"]["adminRoleArns"].append(f"arn:aws:iam::{DEV_ACCOUNT}:role/team/sre-oncall"))
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    assert _lines(res.out)["admin role sre-oncall"] == (
        f"FAIL arn:aws:iam::{DEV_ACCOUNT}:role/team/sre-oncall does not exist: EKS refuses an access entry for a "
        "missing principal; create the role (trusting your administrators) or remove it from cluster.adminRoleArns"
    )


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (None, "`aws` is not on PATH; the kubeconfig runs `aws eks get-token`: install v2"),
        ("aws-cli/1.45.11", "is aws-cli/1.45.11; install v2"),
    ],
)
def test_aws_cli_v2_must_be_on_path(
    version: str | None, reason: str, cli: Callable[..., Result], dev_profile: str, fake_aws_cli: Any
) -> None:
    fake_aws_cli(version)
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    status, detail = _rows(res.out)["aws cli"]
    assert status == FAIL
    assert reason in detail


def test_assumed_role_arns_resolve_to_their_role() -> None:
    from blueprint.ops.readiness import caller, role_key

    who = caller({"Arn": "arn:aws:sts::111111111111:assumed-role/ml-platform-admins/alice@example.com",
                  "Account": "111111111111"})  # fmt: skip
    assert who.role == ("111111111111", "ml-platform-admins")
    assert who.role == role_key("arn:aws:iam::111111111111:role/platform/ml-platform-admins"), (
        "paths are not in sessions"
    )
    sso = caller({"Arn": "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123abcd/alice",
                  "Account": "111111111111"})  # fmt: skip
    assert sso.role == role_key(
        "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/us-west-2/AWSReservedSSO_Admin_0123abcd"
    ), "an IAM Identity Center permission set's role, listed with its path"
    assert caller({"Arn": "arn:aws:iam::111111111111:user/alice", "Account": "111111111111"}).role is None
    assert caller({"Arn": "arn:aws:iam::111111111111:root", "Account": "111111111111"}).role is None


# --------------------------------------------------------------------------- bootstrap status (19.4)
def test_an_environment_without_its_preview_role_is_not_bootstrapped(
    cli: Callable[..., Result], aws_env: str, dev_creds: dict[str, str]
) -> None:
    _in_dev("iam", aws_env, dev_creds).create_role(RoleName=ADMIN_ROLE, AssumeRolePolicyDocument="{}")
    res = cli("preflight", DEV, "--profile", "dev")
    assert res.code == EXIT_NOT_BOOTSTRAPPED == 3
    assert res.err == (
        f"not bootstrapped: dev has no {PROJECT}-preview-dev in account {DEV_ACCOUNT} yet; an administrator's first "
        "`pulumi up` creates it (README, first deploy); until then CI skips this environment\n"
    )
    assert _rows(res.out)["bootstrap"][0] == WARN


def test_first_deploy_expects_what_the_up_creates(
    cli: Callable[..., Result], aws_env: str, dev_creds: dict[str, str]
) -> None:
    _in_dev("iam", aws_env, dev_creds).create_role(RoleName=ADMIN_ROLE, AssumeRolePolicyDocument="{}")
    res = cli("preflight", DEV, "--profile", "dev", "--first-deploy")
    assert res.code == 0, res.out + res.err
    rows = _rows(res.out)
    assert rows["bootstrap"] == (OK, "not yet: this first up creates the preview role")
    assert rows["image llama-3-8b"] == (
        WARN,
        "repository vllm does not exist yet (the up creates it); then push vllm:v0.11.0",
    )
    assert rows["weights llama-3-8b"][0] == WARN
    assert res.err == ""


def test_no_github_oidc_provider_for_the_web_identity_is_not_bootstrapped(
    cli: Callable[..., Result], faults: Faults, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI without the aws-stack action: botocore exchanges the GitHub token for the preview role itself."""
    token = tmp_path / "token"
    token.write_text("eyJ.github.token")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{DEV_ACCOUNT}:role/{PROJECT}-preview-dev")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    no_provider = "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com"
    faults.add("sts", "AssumeRoleWithWebIdentity", "InvalidIdentityToken", message=no_provider)
    res = cli("preflight", DEV)
    assert res.code == 3, res.out + res.err
    assert res.err.startswith(f"not bootstrapped: account {DEV_ACCOUNT} of dev has no GitHub OIDC provider yet")
    assert res.err.count("\n") == 1


def test_a_role_the_web_identity_cannot_assume_is_a_failure(
    cli: Callable[..., Result], faults: Faults, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.github.token")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{DEV_ACCOUNT}:role/{PROJECT}-preview-dev")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    faults.add("sts", "AssumeRoleWithWebIdentity", "AccessDenied", status=403)
    res = cli("preflight", DEV)
    assert_one_line_error(res, "error: could not assume the role with the GitHub OIDC token")
    assert "either dev is not bootstrapped (the role does not exist) or the role's trust policy" in res.err


# --------------------------------------------------------------------------- GitHub OIDC provider (19.9)
def _provider(aws_env: str, creds: dict[str, str], tags: dict[str, str]) -> str:
    iam = _in_dev("iam", aws_env, creds)
    return str(
        iam.create_open_id_connect_provider(
            Url="https://token.actions.githubusercontent.com",
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["OpenIDConnectProviderArn"]
    )


def test_an_existing_foreign_oidc_provider_fails_with_the_fix(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    arn = _provider(aws_env, dev_creds, {"owner": "another-team"})
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    assert _lines(res.out)["github oidc provider"] == (
        f"FAIL the account already has {arn} (not created by this stack): CreateOpenIDConnectProvider would fail; "
        "set delivery.createOidcProvider in stacks/Pulumi.dev.yaml to false (the stack then uses the existing provider)"
    )


def test_this_environments_own_oidc_provider_is_fine(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    _provider(aws_env, dev_creds, {"project": f"{PROJECT}", "environment": "dev"})
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 0, res.out
    assert "was created by this environment's stack" in _rows(res.out)["github oidc provider"][1]


def test_reusing_a_provider_that_does_not_exist_fails(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    project(DEV, lambda c: c["delivery"].update(createOidcProvider=False))
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    assert _rows(res.out)["github oidc provider"] == (
        FAIL,
        "the account has no token.actions.githubusercontent.com provider to use: set "
        "delivery.createOidcProvider in stacks/Pulumi.dev.yaml to true",
    )


# --------------------------------------------------------------------------- model images and weights (11.7)
def test_a_missing_image_tag_says_how_to_push_it(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    _in_dev("ecr", aws_env, dev_creds).batch_delete_image(repositoryName="vllm", imageIds=[{"imageTag": "v0.11.1"}])
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    registry = f"{DEV_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com"
    assert _lines(res.out)["image llama-3-8b canary"] == (
        f"FAIL vllm:v0.11.1 is not in {registry}: `aws ecr get-login-password --region us-west-2 | docker login "
        f"--username AWS --password-stdin {registry}`, then `docker tag <local image> {registry}/vllm:v0.11.1` and "
        f"`docker push {registry}/vllm:v0.11.1`; or `blueprint promote vllm:v0.11.1 --from <stack that has it> --to dev`"
    )
    assert _rows(res.out)["image llama-3-8b"][0] == OK


def test_images_pinned_by_digest_are_checked_by_digest(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str], project: Callable[..., None]
) -> None:
    ecr = _in_dev("ecr", aws_env, dev_creds)
    present = ecr.describe_images(repositoryName="vllm", imageIds=[{"imageTag": "v0.11.0"}])["imageDetails"][0]
    absent = "sha256:" + "ab" * 32

    def pin(c: dict[str, Any]) -> None:
        model = c["serving"]["models"]["llama-3-8b"]
        model["image"] = {"repository": "vllm", "digest": present["imageDigest"]}
        model["canary"]["image"] = {"repository": "vllm", "digest": absent}

    project(DEV, pin)
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    rows = _rows(res.out)
    assert rows["image llama-3-8b"] == (OK, f"vllm@{present['imageDigest']}")
    canary = _lines(res.out)["image llama-3-8b canary"]
    assert canary.startswith(f"FAIL vllm@{absent} is not in {DEV_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com: ")
    assert f"crane copy <source>@{absent} {DEV_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/vllm:<tag>" in canary


def test_missing_weights_say_where_to_upload(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    s3 = _in_dev("s3", aws_env, dev_creds)
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": WEIGHTS}, {"Key": "models/llama-3-8b/config.json"}]})
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    assert _lines(res.out)["weights llama-3-8b"] == (
        f"FAIL nothing under s3://{BUCKET}/models/llama-3-8b/; upload them: "
        f"`aws s3 sync <local model dir>/ s3://{BUCKET}/models/llama-3-8b/`"
    )


def test_a_model_held_back_with_deploy_false_only_warns_about_its_image_and_weights(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str], project: Callable[..., None]
) -> None:
    # README, first deploy: CI applies the Kubernetes layer (its preflight must pass) before anyone pushed
    # the models' images and weights; those models are held back with deploy: false until then.
    _in_dev("ecr", aws_env, dev_creds).batch_delete_image(repositoryName="vllm", imageIds=[{"imageTag": "v0.11.1"}])
    s3 = _in_dev("s3", aws_env, dev_creds)
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": WEIGHTS}, {"Key": "models/llama-3-8b/config.json"}]})
    project("dev", lambda c: c["serving"]["modelDefaults"].update(deploy=False))
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 0, res.out
    lines = _lines(res.out)
    for row in ("image llama-3-8b canary", "weights llama-3-8b"):
        assert lines[row].startswith("WARN "), lines[row]
        assert lines[row].endswith("(serving.models.llama-3-8b.deploy is false: needed before it is switched on)")
    project("dev", lambda c: c["serving"]["modelDefaults"].update(deploy=True))
    assert cli("preflight", "dev", "--profile", dev_profile).code == 1


def test_weights_without_weight_files_warn(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    _in_dev("s3", aws_env, dev_creds).delete_object(Bucket=BUCKET, Key=WEIGHTS)
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 0, res.out
    status, reason = _rows(res.out)["weights llama-3-8b"]
    assert status == WARN
    assert "1 object(s) under" in reason
    assert "but no weight files (.safetensors" in reason


def test_the_artifact_bucket_is_found_or_named(
    cli: Callable[..., Result], dev_profile: str, aws_env: str, dev_creds: dict[str, str]
) -> None:
    s3 = _in_dev("s3", aws_env, dev_creds)
    other = f"{PROJECT}-dev-artifacts-20261202000000000000000002"
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": REGION})
    res = cli("preflight", DEV, "--profile", dev_profile)
    assert res.code == 1
    assert (
        f"several buckets match {PROJECT}-dev-artifacts-*: {BUCKET}, {other}; pass --artifact-bucket"
        in (_lines(res.out)["weights llama-3-8b"])
    )
    res = cli("preflight", DEV, "--profile", dev_profile, "--artifact-bucket", BUCKET)
    assert res.code == 0, res.out
    assert _rows(res.out)["weights llama-3-8b"][0] == OK


@pytest.mark.parametrize(("support_type", "status"), [("EXTENDED", WARN), ("STANDARD", FAIL)])
def test_run_checks_reads_cluster_support_type(
    support_type: str, status: str, dev_profile: str, project: Callable[..., None]
) -> None:
    """`cluster.supportType` comes with the config change of issue 11.9; until it is merged this test skips."""
    from blueprint.ops._aws import load_stack_config
    from infra.config import ClusterConfig

    if "support_type" not in ClusterConfig.model_fields:
        pytest.skip("cluster.supportType is not in infra/config.py yet")
    project(DEV, lambda c: c["cluster"].update(supportType=support_type))
    cfg = load_stack_config(DEV)
    eks, stub = _stubbed("eks")
    stub.add_response(
        "describe_cluster_versions",
        {"clusterVersions": [{"clusterVersion": cfg.cluster.version, "versionStatus": "EXTENDED_SUPPORT"}]},
        {"clusterVersions": [cfg.cluster.version], "includeAll": True},
    )
    aws = _aws.connect(REGION, profile=dev_profile)
    with stub:
        checks = run_checks(cfg, lambda s: eks if s == "eks" else aws.client(s)).checks
    (row,) = [c for c in checks if c.name.startswith("kubernetes ")]
    assert row.status == status


def test_karpenter_pools_count_every_type_and_capacity_they_allow() -> None:
    from blueprint.ops.preflight import karpenter_launchable
    from tests.k8s_layer import stack_config

    for stack in ("staging", "prod"):
        pools = stack_config(stack).resolved_node_pools()
        launchable = karpenter_launchable(pools.values())
        for name, pool in pools.items():
            mine = [p for p in launchable if p.name == name]
            if pool.karpenter is None:
                assert mine == [pool]
                continue
            k = pool.karpenter
            assert sorted(p.capacity_type for p in mine) == sorted(
                "SPOT" if c == "spot" else "ON_DEMAND" for c in k.capacity_types
            )
            for p in mine:
                assert set(p.instance_types) == {f"{f}.{z}" for f in k.instance_families for z in k.instance_sizes}


@pytest.mark.parametrize(("exists", "status"), [(True, OK), (False, FAIL)])
def test_spot_service_linked_role_is_checked(exists: bool, status: str) -> None:
    from blueprint.ops.preflight import SPOT_ROLE, check_spot_role

    iam, stub = _stubbed("iam")
    if exists:
        role = {"Path": "/aws-service-role/spot.amazonaws.com/", "RoleName": SPOT_ROLE, "RoleId": "AROAEXAMPLEEXAMPLE01",
                "Arn": f"arn:aws:iam::111111111111:role/aws-service-role/spot.amazonaws.com/{SPOT_ROLE}",
                "CreateDate": "2026-01-01T00:00:00Z"}  # fmt: skip
        stub.add_response("get_role", {"Role": role}, {"RoleName": SPOT_ROLE})
    else:
        stub.add_client_error("get_role", "NoSuchEntity", http_status_code=404)
    with stub:
        check = check_spot_role(iam)
    assert check.status == status
    if not exists:
        assert "create-service-linked-role --aws-service-name spot.amazonaws.com" in check.detail
