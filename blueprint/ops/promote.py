"""``blueprint promote REPOSITORY:TAG --from STACK --to STACK``: copy an image between environments by digest.

The source and target registries are the two stacks' accounts and regions (``accountId``,
``region``); the repository must be one of ``registry.repositories`` in both. The image is read
with ``BatchGetImage`` and written with ``PutImage`` under the same digest, so what runs in prod
is byte-for-byte what was tested in staging. Nothing is rebuilt or re-tagged in the source.

Refusals (exit 1, nothing written):

- the source image has CRITICAL or HIGH scan findings, or no completed scan, unless
  ``--allow-findings`` (basic and enhanced/Inspector findings are both read);
- the target tag exists, is immutable, and points at a different digest;
- the repository or the tag does not exist.

``PutImage`` only accepts a manifest whose layers are already in the target repository, so
missing blobs are copied first (``GetDownloadUrlForLayer`` in the source, the layer-upload API in
the target), and for a multi-arch index every child manifest is copied before the index.
Promoting a tag that already points at the same digest is a no-op.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from blueprint.ops._aws import (
    EXIT_OK,
    OpsError,
    OpsUsageError,
    add_common_arguments,
    connect_from_args,
    error_code,
    guarded,
    load_stack_config,
    stdout,
)

# Manifest media types PutImage accepts and we ask BatchGetImage for (without acceptedMediaTypes
# ECR may convert an OCI manifest to Docker v2, which changes the digest).
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
BLOCKING_SEVERITIES = ("CRITICAL", "HIGH")
SCANNED = ("COMPLETE", "ACTIVE")  # ACTIVE: enhanced (Inspector) continuous scanning
_FOREIGN = "foreign"  # Windows base layers live outside the registry and are never uploaded


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``promote`` to the CLI."""
    p = subparsers.add_parser(
        "promote",
        help="copy an image by digest from one environment's ECR to another's, gated on scan findings",
        description="Copy REPOSITORY:TAG by digest between two stacks' registries.",
    )
    p.add_argument("image", metavar="REPOSITORY:TAG", type=_image_arg, help="e.g. vllm:v0.11.0")
    p.add_argument("--from", dest="source", required=True, metavar="STACK", help="stack to promote from")
    p.add_argument("--to", dest="target", required=True, metavar="STACK", help="stack to promote to")
    p.add_argument("--from-profile", metavar="PROFILE", help="AWS profile for the source (default: ambient)")
    p.add_argument("--to-profile", metavar="PROFILE", help="AWS profile for the target (default: ambient)")
    p.add_argument(
        "--allow-findings",
        action="store_true",
        help="promote even with CRITICAL/HIGH findings or without a completed scan (recorded in the output)",
    )
    add_common_arguments(p)
    p.set_defaults(handler=guarded(run))


def _image_arg(ref: str) -> tuple[str, str]:
    """argparse type: a malformed reference is a usage error (exit 2), like any bad argument."""
    try:
        return parse_ref(ref)
    except OpsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def download_url_allowed(url: str, emulator: str | None) -> bool:
    """Layer download URLs must be https (ECR hands out presigned S3 https URLs); plain http only for an
    emulator the user pointed ``--endpoint-url`` at, on that emulator's host and port."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return True
    if parts.scheme != "http" or not emulator:
        return False
    return parts.netloc == urllib.parse.urlsplit(emulator).netloc


class _SameRulesRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL :func:`download_url_allowed` accepts (no downgrade to http)."""

    def __init__(self, emulator: str | None):
        self.emulator = emulator

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if not download_url_allowed(newurl, self.emulator):
            raise OpsError("refusing a redirect of a blob download to a non-https URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def parse_ref(ref: str) -> tuple[str, str]:
    """``repository:tag`` -> (repository, tag)."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or not repo or not tag or "/" in tag or "@" in ref:
        raise OpsError(f"expected REPOSITORY:TAG, got {ref!r}")
    return repo, tag


@dataclass
class Registry:
    """One side of the promotion: a stack's ECR registry."""

    stack: str
    account: str
    region: str
    repository: str
    ecr: Any
    sts: Any
    emulator: str | None = None
    """``--endpoint-url`` (an emulator the user chose): the only place a plain-http URL may point at."""

    @property
    def where(self) -> str:
        return f"{self.stack} ({self.account}, {self.region})"

    def _ids(self) -> dict[str, str]:
        return {"registryId": self.account, "repositoryName": self.repository}

    def describe(self) -> dict[str, Any]:
        try:
            return dict(
                self.ecr.describe_repositories(registryId=self.account, repositoryNames=[self.repository])[
                    "repositories"
                ][0]
            )
        except ClientError as exc:
            if error_code(exc) == "RepositoryNotFoundException":
                raise OpsError(f"repository {self.repository} does not exist in {self.where}; {self._hint()}") from None
            raise

    def _hint(self) -> str:
        """Why a repository may look missing: credentials of another account, or not deployed yet."""
        caller = self.sts.get_caller_identity()["Account"]
        if caller != self.account:
            return f"the credentials are for account {caller}: pass the --from-profile/--to-profile of {self.stack}"
        return f"run `pulumi up` for {self.stack}"

    def get(self, image_id: dict[str, str]) -> dict[str, Any] | None:
        """The image (manifest, media type, digest), or None if the tag/digest is not there."""
        resp = self.ecr.batch_get_image(
            **self._ids(), imageIds=[image_id], acceptedMediaTypes=[*MANIFEST_TYPES, *INDEX_TYPES]
        )
        images = resp.get("images", [])
        if images:
            return dict(images[0])
        codes = {f.get("failureCode") for f in resp.get("failures", [])}
        if codes - {"ImageNotFound", "ImageTagDoesNotMatchDigest"}:
            raise OpsError(f"BatchGetImage in {self.where} failed: {resp['failures']}")
        return None

    def findings(self, digest: str) -> tuple[str, dict[str, int], list[str]]:
        """(scan status, severity counts, a few blocking finding ids) for one image digest."""
        counts: dict[str, int] = {}
        examples: list[str] = []
        status = "NOT_SCANNED"
        try:
            pages = self.ecr.get_paginator("describe_image_scan_findings").paginate(
                **self._ids(), imageId={"imageDigest": digest}
            )
            for page in pages:
                status = page.get("imageScanStatus", {}).get("status", status)
                found = page.get("imageScanFindings", {})
                counts = dict(found.get("findingSeverityCounts") or counts)
                # Basic scanning: findings[].name; enhanced (Inspector): enhancedFindings[] with
                # packageVulnerabilityDetails.vulnerabilityId.
                for f in found.get("findings", []):
                    if f.get("severity") in BLOCKING_SEVERITIES:
                        examples.append(f"{f.get('name')} ({f['severity']})")
                for f in found.get("enhancedFindings", []):
                    if f.get("severity") in BLOCKING_SEVERITIES:
                        vuln = (f.get("packageVulnerabilityDetails") or {}).get("vulnerabilityId") or f.get("title")
                        examples.append(f"{vuln} ({f['severity']})")
        except ClientError as exc:
            if error_code(exc) != "ScanNotFoundException":
                raise
        return status, counts, examples

    def missing_blobs(self, digests: list[str]) -> list[str]:
        missing: list[str] = []
        for i in range(0, len(digests), 100):  # API limit per call
            resp = self.ecr.batch_check_layer_availability(**self._ids(), layerDigests=digests[i : i + 100])
            available = {
                layer["layerDigest"]
                for layer in resp.get("layers", [])
                if layer.get("layerAvailability") == "AVAILABLE"
            }
            missing += [d for d in digests[i : i + 100] if d not in available]
        return missing

    def download(self, digest: str, timeout: float) -> Iterator[bytes]:
        url = str(self.ecr.get_download_url_for_layer(**self._ids(), layerDigest=digest)["downloadUrl"])
        if not download_url_allowed(url, self.emulator):
            shown = urllib.parse.urlsplit(url)._replace(query="").geturl()  # a presigned query holds credentials
            raise OpsError(f"refusing to download blob {digest} from {shown}: only https:// URLs are accepted")
        try:
            opener = urllib.request.build_opener(_SameRulesRedirects(self.emulator))
            with opener.open(url, timeout=timeout) as resp:
                while chunk := resp.read(8 * 1024 * 1024):
                    yield chunk
        except (urllib.error.URLError, TimeoutError) as exc:
            raise OpsError(f"could not download blob {digest} from {self.where}: {exc}") from None

    def upload(self, digest: str, chunks: Iterator[bytes]) -> int:
        """Upload one blob in parts; ECR checks the digest on completion."""
        upload = self.ecr.initiate_layer_upload(**self._ids())
        part_size = int(upload.get("partSize") or 10 * 1024 * 1024)
        sent, buf = 0, b""

        def part(data: bytes) -> None:
            nonlocal sent
            self.ecr.upload_layer_part(
                **self._ids(),
                uploadId=upload["uploadId"],
                partFirstByte=sent,
                partLastByte=sent + len(data) - 1,
                layerPartBlob=data,
            )
            sent += len(data)

        for chunk in chunks:
            buf += chunk
            while len(buf) >= part_size:
                part(buf[:part_size])
                buf = buf[part_size:]
        if buf or not sent:
            part(buf)
        self.ecr.complete_layer_upload(**self._ids(), uploadId=upload["uploadId"], layerDigests=[digest])
        return sent

    def put(self, image: dict[str, Any], tag: str | None) -> str:
        kwargs: dict[str, Any] = {
            **self._ids(),
            "imageManifest": image["imageManifest"],
            "imageManifestMediaType": image["imageManifestMediaType"],
            "imageDigest": image["imageId"]["imageDigest"],
        }
        if tag:
            kwargs["imageTag"] = tag
        return str(self.ecr.put_image(**kwargs)["image"]["imageId"]["imageDigest"])


def tag_is_immutable(repo: dict[str, Any], tag: str) -> bool:
    """Whether ECR would refuse to move ``tag``, exclusion filters included."""
    mode = repo.get("imageTagMutability", "MUTABLE")
    filters = [f.get("filter", "") for f in repo.get("imageTagMutabilityExclusionFilters") or []]
    excluded = any(fnmatch.fnmatchcase(tag, f) for f in filters)
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return mode == "IMMUTABLE"


def _children(image: dict[str, Any]) -> list[str]:
    if image["imageManifestMediaType"] not in INDEX_TYPES:
        return []
    return [m["digest"] for m in json.loads(image["imageManifest"]).get("manifests", [])]


def _blobs(image: dict[str, Any]) -> list[str]:
    manifest = json.loads(image["imageManifest"])
    blobs = [manifest["config"]["digest"]] if "config" in manifest else []
    blobs += [b["digest"] for b in manifest.get("layers", []) if _FOREIGN not in b.get("mediaType", "")]
    return blobs


def run(args: argparse.Namespace) -> int:
    """The ``promote`` handler."""
    repo, tag = args.image
    if args.source == args.target:
        raise OpsUsageError("--from and --to name the same stack")
    sides = []
    for stack, profile in ((args.source, args.from_profile), (args.target, args.to_profile)):
        cfg = load_stack_config(stack)
        if repo not in cfg.registry.repositories:
            known = ", ".join(cfg.registry.repositories) or "none"
            raise OpsError(f"repository {repo} is not in stack {stack}'s registry.repositories ({known})")
        aws = connect_from_args(args, cfg.region, profile)
        ecr, sts = aws.client("ecr"), aws.client("sts")
        sides.append(Registry(stack, cfg.account_id, cfg.region, repo, ecr, sts, aws.endpoint_url))
    src, dst = sides
    out = stdout()

    src.describe()
    target_repo = dst.describe()
    image = src.get({"imageTag": tag})
    if image is None:
        raise OpsError(f"{repo}:{tag} does not exist in {src.where}")
    digest = image["imageId"]["imageDigest"]
    children = [c for c in (src.get({"imageDigest": d}) for d in _children(image)) if c is not None]
    if len(children) != len(_children(image)):
        raise OpsError(f"{repo}@{digest} in {src.where} references manifests that are missing")

    # Scanners scan image manifests; an index has no layers of its own, so its children are gated.
    scanned = [c["imageId"]["imageDigest"] for c in children] or [digest]
    _gate_findings(src, repo, scanned, args.allow_findings)

    existing = dst.get({"imageTag": tag})
    if existing is not None:
        current = existing["imageId"]["imageDigest"]
        if current == digest:
            out.print(f"{repo}:{tag} in {dst.where} already points at this digest; nothing to do")
            out.print(digest, markup=False)
            return EXIT_OK
        if tag_is_immutable(target_repo, tag):
            raise OpsError(
                f"refusing: {repo}:{tag} in {dst.where} is immutable and points at {current}, not {digest}; "
                "promote a new tag instead"
            )
        out.print(f"moving mutable tag {repo}:{tag} in {dst.where} from {current}")

    copied = 0
    for child in children:
        if dst.get({"imageDigest": child["imageId"]["imageDigest"]}) is None:
            copied += _copy_blobs(src, dst, child, args.read_timeout)
            dst.put(child, tag=None)
    copied += _copy_blobs(src, dst, image, args.read_timeout)
    written = dst.put(image, tag)
    if written != digest:
        raise OpsError(f"ECR stored {written}, expected {digest}")
    out.print(f"promoted {repo}:{tag} from {src.where} to {dst.where} ({copied} blob(s) copied)")
    out.print(digest, markup=False)
    return EXIT_OK


def _gate_findings(src: Registry, repo: str, digests: list[str], allow: bool) -> None:
    problems: list[str] = []
    for d in digests:
        status, counts, examples = src.findings(d)
        if status not in SCANNED:
            problems.append(f"{repo}@{d} has no completed scan (status {status})")
            continue
        blocking = {s: counts.get(s, 0) for s in BLOCKING_SEVERITIES if counts.get(s, 0)}
        if not blocking and examples:  # counts missing from the response: count the findings
            blocking = {s: sum(1 for e in examples if e.endswith(f"({s})")) for s in BLOCKING_SEVERITIES}
        if any(blocking.values()):
            shown = ", ".join(f"{n} {s}" for s, n in blocking.items() if n)
            sample = f" ({', '.join(examples[:3])})" if examples else ""
            problems.append(f"{repo}@{d} has {shown} finding(s){sample}")
    if not problems:
        return
    if allow:
        stdout().print(f"warning: --allow-findings: {'; '.join(problems)}", markup=False)
        return
    raise OpsError(f"refusing: {'; '.join(problems)}; fix the image or pass --allow-findings")


def _copy_blobs(src: Registry, dst: Registry, image: dict[str, Any], timeout: float) -> int:
    missing = dst.missing_blobs(_blobs(image))
    for digest in missing:
        dst.upload(digest, src.download(digest, timeout))
    return len(missing)
