"""``blueprint preflight`` against moto over HTTP, and against botocore's Stubber where moto has no API.

moto 5.2 implements STS and the EC2 calls used here (regions, AZs, instance type offerings and
instance types with GpuInfo), but not EC2 quotas in Service Quotas (it only knows ``vpc``) nor
EKS ``DescribeClusterVersions``. Those paths are tested with ``Stubber``, which validates every
request and response against the real API models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from blueprint.ops import _aws
from blueprint.ops.preflight import FAIL, OK, WARN, Check, check_instance_types, check_kubernetes_version, run_checks
from tests.ops.conftest import REGION, Faults, Result, account_profile, assert_one_line_error, client

DEV_ACCOUNT = "111111111111"


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


@pytest.fixture
def dev_profile(aws_env: str) -> str:
    account_profile(aws_env, DEV_ACCOUNT, "dev")
    return "dev"


def test_dev_stack_in_its_account(cli: Callable[..., Result], dev_profile: str) -> None:
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 0, res.out + res.err
    rows = _rows(res.out)
    assert rows["account"][0] == OK
    assert rows[f"region {REGION}"][0] == OK
    assert rows["availability zones"] == (OK, "us-west-2a, us-west-2b")
    for pool in ("system", "gpu-a10g", "gpu-l4"):
        assert rows[f"pool {pool}: offerings"][0] == OK
    assert rows["pool gpu-a10g: GPUs"][0] == OK
    assert "g5.2xlarge: 1 × A10G, 8 vCPUs" in rows["pool gpu-a10g: GPUs"][1]
    assert "pool system: GPUs" not in rows
    # moto has no EC2 quotas and no DescribeClusterVersions: both degrade to warnings.
    assert rows["quota All G and VT Spot Instance Requests"][0] == WARN
    assert "needs 32 vCPUs" in rows["quota All G and VT Spot Instance Requests"][1]
    assert rows["kubernetes 1.35"][0] == WARN
    assert "0 failure(s)" in res.out


def test_wrong_account_fails(cli: Callable[..., Result]) -> None:
    res = cli("preflight", "dev")  # the ambient test credentials belong to moto's default account
    assert res.code == 1
    status, reason = _rows(res.out)["account"]
    assert status == FAIL
    assert "account 123456789012" in reason
    assert f"deploys to {DEV_ACCOUNT}" in reason


def test_unknown_az_fails(cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]) -> None:
    project("dev", lambda c: c["network"].update(availabilityZones=["us-west-2a", "us-west-2z"]))
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 1
    status, reason = _rows(res.out)["availability zones"]
    assert status == FAIL
    assert reason.startswith("not in us-west-2: us-west-2z")


def test_type_not_offered_in_the_pool_azs_fails(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    # moto's offerings data (like us-west-2 today) has p5e.48xlarge only in us-west-2c.
    project("dev", lambda c: c["nodePools"]["gpu-a10g"].update(instanceTypes=["p5e.48xlarge"]))
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 1
    rows = _rows(res.out)
    assert rows["pool gpu-a10g: offerings"] == (FAIL, "p5e.48xlarge is offered in none of us-west-2a, us-west-2b")
    assert rows["pool gpu-l4: offerings"][0] == OK
    assert rows["quota All P5 Spot Instance Requests"][0] == WARN, "p5 spot has its own quota"


def test_type_missing_in_one_az_warns(
    cli: Callable[..., Result], dev_profile: str, project: Callable[..., None]
) -> None:
    project("dev", lambda c: c["network"].update(availabilityZones=["us-west-2a", "us-west-2b", "us-west-2d"]))
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 0, res.out
    status, reason = _rows(res.out)["pool gpu-a10g: offerings"]
    assert status == WARN
    assert "g5.xlarge not offered in us-west-2d" in reason


def test_unknown_stack_is_a_usage_error(cli: Callable[..., Result]) -> None:
    res = cli("preflight", "qa")
    assert res.code == 2
    assert res.err == "usage error: blueprint preflight: unknown stack 'qa'; known stacks: dev, staging, prod\n"


def test_no_credentials_is_one_line(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert_one_line_error(cli("preflight", "dev"), "error: no AWS credentials found")


def test_access_denied_on_identity_is_one_line(cli: Callable[..., Result], faults: Faults) -> None:
    faults.add("sts", "GetCallerIdentity", "AccessDenied", status=403)
    assert_one_line_error(cli("preflight", "dev"), "error: access denied calling GetCallerIdentity (AccessDenied)")


def test_access_denied_on_one_check_is_a_fail_row(cli: Callable[..., Result], dev_profile: str, faults: Faults) -> None:
    faults.add("ec2", "DescribeInstanceTypes", "UnauthorizedOperation", status=403)
    res = cli("preflight", "dev", "--profile", dev_profile)
    assert res.code == 1
    rows = _rows(res.out)
    assert rows["instance types"][0] == FAIL
    assert "access denied calling DescribeInstanceTypes" in rows["instance types"][1]
    assert rows["availability zones"][0] == OK, "the other checks still ran"


def test_throttled_ec2_calls_are_retried(cli: Callable[..., Result], dev_profile: str, faults: Faults) -> None:
    faults.add("ec2", "DescribeInstanceTypeOfferings", "RequestLimitExceeded", status=503, times=3)
    res = cli("preflight", "dev", "--profile", dev_profile)
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

    cfg = load_stack_config("dev")
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
        checks = run_checks(cfg, lambda s: stubs.get(s) or aws.client(s))
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
    pools = load_stack_config("dev").resolved_node_pools().values()
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

    project("dev", lambda c: c["nodePools"].pop("gpu-l4"))
    project("dev", lambda c: c["nodePools"]["gpu-a10g"].update(instanceTypes=["g5.2xlarge"]))
    pools = load_stack_config("dev").resolved_node_pools().values()
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
    ("version_status", "status", "reason"),
    [
        ("STANDARD_SUPPORT", OK, "standard support until 2027-03-27"),
        ("EXTENDED_SUPPORT", WARN, "extended support only"),
        ("UNSUPPORTED", FAIL, "EKS status UNSUPPORTED"),
    ],
)
def test_kubernetes_version_support_from_eks(version_status: str, status: str, reason: str) -> None:
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
        check = check_kubernetes_version("1.35", eks)
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
