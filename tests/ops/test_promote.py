"""``blueprint promote`` between two accounts in moto over HTTP.

A staging-tier and a prod-tier stack (tests/fixtures.py) get one AWS profile each, so every call really
goes to the account the stack names. moto 5.2 has no ``GetDownloadUrlForLayer`` (it raises
NotImplementedError): the blob-copy test answers that one call from a ``before-call`` hook with
a URL to the blob in moto's S3, exactly the shape ECR returns (a presigned S3 URL).
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from blueprint.ops import _aws
from blueprint.ops.promote import download_url_allowed, tag_is_immutable
from tests import fixtures as fx
from tests.ops.conftest import REGION, Faults, Result, account_profile, assert_one_line_error, client

S_STACK, P_STACK = fx.STAGING, fx.PROD
STAGING, PROD = fx.account(S_STACK), fx.account(P_STACK)
S_AT = f"{S_STACK} ({STAGING}, {fx.region(S_STACK)})"
P_AT = f"{P_STACK} ({PROD}, {fx.region(P_STACK)})"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
BLOBS = [b'{"architecture":"amd64","os":"linux"}', b"layer-one" * 100, b"layer-two" * 100]
ARGS = ("promote", "vllm:v1", "--from", S_STACK, "--to", P_STACK, "--from-profile", S_STACK, "--to-profile", P_STACK)


@pytest.fixture
def ecr(aws_env: str) -> dict[str, Any]:
    """ECR clients per account, with the vllm repository in both (prod's tags are immutable)."""
    clients = {
        STAGING: client("ecr", aws_env, **account_profile(aws_env, STAGING, S_STACK)),
        PROD: client("ecr", aws_env, **account_profile(aws_env, PROD, P_STACK)),
    }
    clients[STAGING].create_repository(repositoryName="vllm", imageTagMutability="MUTABLE")
    clients[PROD].create_repository(repositoryName="vllm", imageTagMutability="IMMUTABLE")
    return clients


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blobs(ecr: Any, blobs: list[bytes]) -> None:
    for blob in blobs:
        up = ecr.initiate_layer_upload(repositoryName="vllm")
        ecr.upload_layer_part(repositoryName="vllm", uploadId=up["uploadId"], partFirstByte=0,
                              partLastByte=len(blob) - 1, layerPartBlob=blob)  # fmt: skip
        ecr.complete_layer_upload(repositoryName="vllm", uploadId=up["uploadId"], layerDigests=[_digest(blob)])


def push(ecr: Any, tag: str, blobs: list[bytes] = BLOBS) -> str:
    """Push an image (blobs + Docker v2 manifest) the way a registry client does; return its digest."""
    upload_blobs(ecr, blobs)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(blobs[0]),
                   "digest": _digest(blobs[0])},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(b),
                    "digest": _digest(b)} for b in blobs[1:]],
    }  # fmt: skip
    resp = ecr.put_image(repositoryName="vllm", imageManifest=json.dumps(manifest),
                         imageManifestMediaType=DOCKER_V2, imageTag=tag)  # fmt: skip
    return str(resp["image"]["imageId"]["imageDigest"])


def scan(moto_url: str, ecr: Any, account: str, digest: str, counts: dict[str, int], **found: Any) -> None:
    """Give the image a completed scan with these findings (moto's API for scan results)."""
    ecr.start_image_scan(repositoryName="vllm", imageId={"imageDigest": digest})
    result = {
        "registryId": account,
        "repositoryName": "vllm",
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {"findingSeverityCounts": counts, **found},
    }
    body = json.dumps({"results": [result], "region": REGION, "account_id": account}).encode()
    req = urllib.request.Request(f"{moto_url}/moto-api/static/ecr/scan-finding-results", data=body, method="POST")
    urllib.request.urlopen(req)


@pytest.fixture
def clean_image(ecr: dict[str, Any], aws_env: str) -> str:
    """vllm:v1 in staging, scanned clean; prod already holds its blobs (shared base layers)."""
    digest = push(ecr[STAGING], "v1")
    scan(aws_env, ecr[STAGING], STAGING, digest, {"LOW": 2})
    upload_blobs(ecr[PROD], BLOBS)
    return digest


def _prod_digest(ecr: dict[str, Any], tag: str) -> str | None:
    images = ecr[PROD].batch_get_image(repositoryName="vllm", imageIds=[{"imageTag": tag}])["images"]
    return images[0]["imageId"]["imageDigest"] if images else None


def test_promotes_by_digest(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert res.out.strip().splitlines()[-1] == clean_image
    assert f"from {S_AT} to {P_AT}" in res.out
    assert _prod_digest(ecr, "v1") == clean_image
    source = ecr[STAGING].batch_get_image(repositoryName="vllm", imageIds=[{"imageTag": "v1"}])["images"][0]
    target = ecr[PROD].batch_get_image(repositoryName="vllm", imageIds=[{"imageTag": "v1"}])["images"][0]
    assert target["imageManifest"] == source["imageManifest"]


def test_promoting_again_is_a_no_op(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    assert cli(*ARGS).code == 0
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert "already points at this digest" in res.out
    assert res.out.strip().splitlines()[-1] == clean_image


def test_missing_blobs_are_copied_first(
    cli: Callable[..., Result], ecr: dict[str, Any], aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = push(ecr[STAGING], "v1")
    scan(aws_env, ecr[STAGING], STAGING, digest, {})
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket="ecr-layers", CreateBucketConfiguration={"LocationConstraint": REGION})
    for blob in BLOBS:
        s3.put_object(Bucket="ecr-layers", Key=_digest(blob), Body=blob)

    def download_url(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        # `params` is the serialized request; ECR speaks JSON.
        layer = json.loads(params["body"])["layerDigest"]
        http = AWSResponse(f"{aws_env}/", 200, {}, None)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "ecr-layers", "Key": layer}, ExpiresIn=60)
        return http, {"downloadUrl": url, "layerDigest": layer}

    real = _aws.boto3.Session

    def session(*a: Any, **kw: Any) -> Any:
        s = real(*a, **kw)
        s.events.register("before-call.ecr.GetDownloadUrlForLayer", download_url)
        return s

    monkeypatch.setattr(_aws.boto3, "Session", session)
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert "(3 blob(s) copied)" in res.out
    layers = ecr[PROD].batch_check_layer_availability(repositoryName="vllm", layerDigests=[_digest(b) for b in BLOBS])
    assert {layer["layerAvailability"] for layer in layers["layers"]} == {"AVAILABLE"}
    assert _prod_digest(ecr, "v1") == digest


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def test_promotes_a_multi_arch_index_with_its_children(
    cli: Callable[..., Result], ecr: dict[str, Any], aws_env: str
) -> None:
    amd = [b'{"architecture":"amd64"}', b"amd64-layer" * 50]
    arm = [b'{"architecture":"arm64"}', b"arm64-layer" * 50]
    children = [push(ecr[STAGING], "v1-amd64", amd), push(ecr[STAGING], "v1-arm64", arm)]
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_V2, "digest": d, "size": 500, "platform": {"architecture": a, "os": "linux"}}
            for d, a in zip(children, ("amd64", "arm64"), strict=True)
        ],
    })  # fmt: skip
    index_digest = _digest(index.encode())
    ecr[STAGING].put_image(repositoryName="vllm", imageManifest=index, imageManifestMediaType=OCI_INDEX,
                           imageTag="v1", imageDigest=index_digest)  # fmt: skip
    for child in children:
        scan(aws_env, ecr[STAGING], STAGING, child, {"MEDIUM": 1})
    upload_blobs(ecr[PROD], amd + arm)

    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert res.out.strip().splitlines()[-1] == index_digest
    assert _prod_digest(ecr, "v1") == index_digest
    found = ecr[PROD].batch_get_image(repositoryName="vllm", imageIds=[{"imageDigest": d} for d in children])
    assert sorted(i["imageId"]["imageDigest"] for i in found["images"]) == sorted(children)


def test_a_vulnerable_child_blocks_the_index(cli: Callable[..., Result], ecr: dict[str, Any], aws_env: str) -> None:
    child = push(ecr[STAGING], "v1-amd64")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [{"mediaType": DOCKER_V2, "digest": child, "size": 500}]})  # fmt: skip
    ecr[STAGING].put_image(repositoryName="vllm", imageManifest=index, imageManifestMediaType=OCI_INDEX,
                           imageTag="v1", imageDigest=_digest(index.encode()))  # fmt: skip
    scan(aws_env, ecr[STAGING], STAGING, child, {"CRITICAL": 1})
    assert_one_line_error(cli(*ARGS), f"error: refusing: vllm@{child} has 1 CRITICAL finding(s)")


@pytest.mark.parametrize(
    ("counts", "found", "message"),
    [
        (
            {"HIGH": 1},
            {"findings": [{"name": "CVE-2026-0001", "severity": "HIGH"}]},
            "1 HIGH finding(s) (CVE-2026-0001 (HIGH))",
        ),
        (
            {"CRITICAL": 2, "MEDIUM": 3},
            {
                "enhancedFindings": [
                    {"severity": "CRITICAL", "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2026-1111"}}
                ]
            },
            "2 CRITICAL finding(s) (CVE-2026-1111 (CRITICAL))",
        ),
    ],
    ids=["basic", "enhanced"],
)
def test_refuses_images_with_high_or_critical_findings(
    cli: Callable[..., Result], ecr: dict[str, Any], aws_env: str, counts: dict[str, int], found: Any, message: str
) -> None:
    digest = push(ecr[STAGING], "v1")
    scan(aws_env, ecr[STAGING], STAGING, digest, counts, **found)
    upload_blobs(ecr[PROD], BLOBS)
    res = cli(*ARGS)
    assert_one_line_error(res, f"error: refusing: vllm@{digest} has {message}")
    assert _prod_digest(ecr, "v1") is None

    allowed = cli(*ARGS, "--allow-findings")
    assert allowed.code == 0, allowed.err
    assert "warning: --allow-findings" in allowed.out
    assert _prod_digest(ecr, "v1") == digest


def test_refuses_an_unscanned_image(cli: Callable[..., Result], ecr: dict[str, Any]) -> None:
    digest = push(ecr[STAGING], "v1")
    assert_one_line_error(cli(*ARGS), f"error: refusing: vllm@{digest} has no completed scan (status NOT_SCANNED)")


def test_refuses_to_move_an_immutable_tag(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    other = push(ecr[PROD], "v1", [BLOBS[0], b"something else"])
    res = cli(*ARGS)
    assert_one_line_error(res, f"error: refusing: vllm:v1 in {P_AT} is immutable")
    assert f"points at {other}, not {clean_image}" in res.err
    assert _prod_digest(ecr, "v1") == other


def test_moves_a_mutable_tag(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    ecr[PROD].put_image_tag_mutability(repositoryName="vllm", imageTagMutability="MUTABLE")
    push(ecr[PROD], "v1", [BLOBS[0], b"something else"])
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert "moving mutable tag vllm:v1" in res.out
    assert _prod_digest(ecr, "v1") == clean_image


def test_missing_target_repository(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    ecr[PROD].delete_repository(repositoryName="vllm", force=True)
    assert_one_line_error(cli(*ARGS), f"error: repository vllm does not exist in {P_AT}; run `pulumi up` for {P_STACK}")


def test_repository_not_in_the_stack_config(cli: Callable[..., Result], ecr: dict[str, Any]) -> None:
    res = cli("promote", "nope:v1", "--from", S_STACK, "--to", P_STACK)
    assert_one_line_error(res, "error: repository nope is not in stack staging's registry.repositories")


def test_missing_tag(cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str) -> None:
    res = cli("promote", "vllm:v2", *ARGS[2:])
    assert_one_line_error(res, f"error: vllm:v2 does not exist in {S_AT}")


def test_wrong_credentials_for_the_source_account(
    cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str
) -> None:
    # The ambient credentials are another account's: ECR answers as for any foreign registry.
    res = cli("promote", "vllm:v1", "--from", S_STACK, "--to", P_STACK, "--to-profile", P_STACK)
    assert_one_line_error(res, f"error: repository vllm does not exist in {S_AT}")
    assert "the credentials are for account 123456789012: pass the --from-profile/--to-profile of staging" in res.err


def test_throttled_ecr_calls_are_retried(
    cli: Callable[..., Result], ecr: dict[str, Any], clean_image: str, faults: Faults
) -> None:
    faults.add("ecr", "BatchGetImage", "ThrottlingException", status=400, times=3)
    res = cli(*ARGS)
    assert res.code == 0, res.err
    assert faults.fired("ThrottlingException") == 3
    assert _prod_digest(ecr, "v1") == clean_image


def test_access_denied_is_one_line(cli: Callable[..., Result], ecr: dict[str, Any], faults: Faults) -> None:
    faults.add("ecr", "DescribeRepositories", "AccessDeniedException", status=400)
    assert_one_line_error(cli(*ARGS), "error: access denied calling DescribeRepositories (AccessDeniedException)")


def test_no_credentials_is_one_line(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert_one_line_error(cli("promote", "vllm:v1", "--from", S_STACK, "--to", P_STACK), "error: no AWS credentials")


@pytest.mark.parametrize("ref", ["vllm", "vllm:", ":v1", "vllm@sha256:abc"])
def test_bad_reference_is_a_usage_error(cli: Callable[..., Result], ref: str) -> None:
    res = cli("promote", ref, "--from", S_STACK, "--to", P_STACK)
    assert res.code == 2, res.err
    assert "expected REPOSITORY:TAG" in res.err
    assert "Traceback" not in res.err


@pytest.mark.parametrize(
    ("mode", "filters", "tag", "immutable"),
    [
        ("IMMUTABLE", [], "v1", True),
        ("MUTABLE", [], "v1", False),
        ("IMMUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "latest*"}], "latest-main", False),
        ("IMMUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "latest*"}], "v1", True),
        ("MUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "v*"}], "v1", True),
    ],
)
def test_tag_mutability_with_exclusions(mode: str, filters: list[dict[str, str]], tag: str, immutable: bool) -> None:
    repo = {"imageTagMutability": mode, "imageTagMutabilityExclusionFilters": filters}
    assert tag_is_immutable(repo, tag) is immutable


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com/x?X-Amz-Signature=1", True),
        ("http://prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com/x", False),
        ("http://127.0.0.1:5000/ecr-layers/x", True),  # the emulator given as --endpoint-url
        ("http://127.0.0.1:5001/ecr-layers/x", False),
        ("ftp://127.0.0.1:5000/x", False),
        ("file:///etc/passwd", False),
        ("https:///no-host", False),
    ],
)
def test_only_https_download_urls(url: str, allowed: bool) -> None:
    assert download_url_allowed(url, "http://127.0.0.1:5000") is allowed
    if url.startswith("http://"):
        assert download_url_allowed(url, None) is False, "plain http only with an explicit emulator endpoint"


def test_plain_http_download_url_is_refused(
    cli: Callable[..., Result], ecr: dict[str, Any], aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = push(ecr[STAGING], "v1")
    scan(aws_env, ecr[STAGING], STAGING, digest, {})

    def download_url(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        layer = json.loads(params["body"])["layerDigest"]
        url = f"http://layers.example.com/{layer}?X-Amz-Signature=secret"
        return AWSResponse(f"{aws_env}/", 200, {}, None), {"downloadUrl": url, "layerDigest": layer}

    real = _aws.boto3.Session

    def session(*a: Any, **kw: Any) -> Any:
        s = real(*a, **kw)
        s.events.register("before-call.ecr.GetDownloadUrlForLayer", download_url)
        return s

    monkeypatch.setattr(_aws.boto3, "Session", session)
    res = cli(*ARGS)
    assert_one_line_error(res, "error: refusing to download blob sha256:")
    assert "from http://layers.example.com/sha256:" in res.err
    assert "only https:// URLs are accepted" in res.err
    assert "secret" not in res.err, "the presigned query is not printed"
    assert ecr[PROD].batch_get_image(repositoryName="vllm", imageIds=[{"imageTag": "v1"}])["images"] == []
