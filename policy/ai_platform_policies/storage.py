"""S3 (artifact bucket) and Kubernetes storage classes (catalogue §3.7 S3-01…05, COST-07, OBS-04)."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    as_list,
    get,
    truthy,
)

BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


POLICIES = PolicyList()


def _buckets_without(
    args: StackValidationArgs, companion: str, ok: Callable[[PolicyResource], bool] = lambda r: True
) -> list[PolicyResource]:
    """Buckets that no ``companion`` resource (satisfying ``ok``) points at through its ``bucket`` input."""
    covered: set[str] = set()
    for r in args.resources:
        if r.resource_type == companion and ok(r):
            covered.update(d.urn for d in r.property_dependencies.get("bucket", []))
            covered.add(str(r.props.get("bucket") or ""))
    return [
        r
        for r in args.resources
        if r.resource_type == BUCKET and r.urn not in covered and str(r.props.get("bucket") or "") not in covered
    ]


@POLICIES.stack(
    "s3-bucket-public-access-block",
    "Every bucket has a public access block (S3-01; CKV2_AWS_6).",
    Severity.CRITICAL,
)
def _pab_exists(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each bucket has an aws.s3.BucketPublicAccessBlock."""
    for b in _buckets_without(args, PAB):
        report(
            f"bucket '{b.name}' has no public access block: create an aws.s3.BucketPublicAccessBlock with all four "
            "flags true (components/artifacts.py)",
            b.urn,
        )


@POLICIES.resource(
    "s3-bucket-public-access-block-all-flags",
    "Public access blocks set all four flags (S3-01; CKV_AWS_53–56).",
    Severity.CRITICAL,
    [PAB],
)
def _pab_flags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Public access blocks set all four block/ignore/restrict flags to true."""
    off = [f for f in PAB_FLAGS if args.props.get(f) is not True]
    if off:
        report(
            f"public access block '{args.name}' leaves {', '.join(off)} off: set all four to true (components/artifacts.py)"
        )


@POLICIES.stack(
    "s3-bucket-encryption-configured",
    "Every bucket has a default encryption configuration (S3-02; CKV_AWS_19).",
    Severity.HIGH,
)
def _sse_exists(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each bucket has a server-side encryption configuration."""
    for b in _buckets_without(args, SSE):
        report(
            f"bucket '{b.name}' has no default encryption config: create an "
            "aws.s3.BucketServerSideEncryptionConfiguration with SSE-KMS (components/artifacts.py)",
            b.urn,
        )


def _log_targets(args: StackValidationArgs) -> set[str]:
    """URNs and names of the buckets S3 server access logs are delivered to."""
    out: set[str] = set()
    for r in args.resources:
        if r.resource_type == LOGGING:
            out.update(d.urn for d in r.property_dependencies.get("targetBucket", []))
            out.add(str(r.props.get("targetBucket") or ""))
    out.discard("")
    return out


@POLICIES.stack(
    "s3-bucket-sse-kms-bucket-key",
    "Default encryption is SSE-KMS with a CMK and the S3 bucket key on; access-log targets use SSE-S3 "
    "(S3-02; CKV_AWS_145).",
    Severity.HIGH,
)
def _sse_kms(args: StackValidationArgs, report: ReportViolation) -> None:
    # Server access log delivery supports only SSE-S3 default encryption on the destination bucket
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html), so
    # a log target may (and must) use AES256; every other bucket uses SSE-KMS with a CMK.
    """Buckets default to SSE-KMS with a key and bucketKeyEnabled; access-log targets use AES256."""
    targets = _log_targets(args)
    for r in args.resources:
        if r.resource_type != SSE:
            continue
        bucket_refs = {d.urn for d in r.property_dependencies.get("bucket", [])} | {str(r.props.get("bucket") or "")}
        _check_sse(r, bool(bucket_refs & targets), report)


def _check_sse(r: PolicyResource, log_target: bool, report: ReportViolation) -> None:
    rules = as_list(r.props.get("rules"))
    if not rules:
        report(f"'{r.name}' has no rules: add one with applyServerSideEncryptionByDefault.sseAlgorithm: aws:kms", r.urn)
    for rule in rules:
        algo = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        if log_target:
            if algo != "AES256":
                report(
                    f"'{r.name}' encrypts an access-log target with {algo or 'nothing'}: server access log delivery "
                    "needs sseAlgorithm: AES256 on its destination (components/audit.py)",
                    r.urn,
                )
        elif algo not in ("aws:kms", "aws:kms:dsse"):
            report(
                f"'{r.name}' encrypts with {algo or 'nothing'}: set applyServerSideEncryptionByDefault "
                "{sseAlgorithm: aws:kms, kmsMasterKeyId: <artifact key>} (components/artifacts.py)",
                r.urn,
            )
        elif not get(rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId"):
            report(f"'{r.name}' uses the AWS-managed S3 key: set kmsMasterKeyId to the artifact bucket's CMK", r.urn)
        elif not truthy(rule.get("bucketKeyEnabled")):
            report(f"'{r.name}' calls KMS for every object: set bucketKeyEnabled: true (cuts KMS request cost)", r.urn)


@POLICIES.stack(
    "s3-bucket-versioning",
    "Artifact buckets are versioned (S3-03; CKV_AWS_21).",
    Severity.MEDIUM,
)
def _versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    """Buckets have an aws.s3.BucketVersioning with status Enabled."""
    for b in _buckets_without(args, VERSIONING, lambda r: get(r.props, "versioningConfiguration.status") == "Enabled"):
        report(
            f"bucket '{b.name}' is not versioned: an overwritten model or dataset is lost; create an "
            "aws.s3.BucketVersioning with status Enabled (components/artifacts.py)",
            b.urn,
        )


def _has_abort(r: PolicyResource) -> bool:
    return any(
        get(rule, "abortIncompleteMultipartUpload.daysAfterInitiation") and rule.get("status", "Enabled") == "Enabled"
        for rule in as_list(r.props.get("rules"))
    )


@POLICIES.stack(
    "s3-bucket-lifecycle",
    "Every bucket has a lifecycle rule that aborts incomplete multipart uploads (S3-04; CKV_AWS_300).",
    Severity.LOW,
)
def _lifecycle(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each bucket has a lifecycle rule that aborts incomplete multipart uploads."""
    for b in _buckets_without(args, LIFECYCLE, _has_abort):
        report(
            f"bucket '{b.name}' keeps incomplete multipart uploads (and old versions) forever: add a lifecycle rule "
            f"with abortIncompleteMultipartUpload (artifacts.abortIncompleteUploadDays in {STACK_FILE})",
            b.urn,
        )


@POLICIES.stack(
    "s3-bucket-access-logging",
    "Buckets log access to a log bucket (S3-05; CKV_AWS_18).",
    Severity.LOW,
)
def _logging(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each bucket except the log targets has an aws.s3.BucketLogging."""
    targets = {
        d.urn
        for r in args.resources
        if r.resource_type == LOGGING
        for d in r.property_dependencies.get("targetBucket", [])
    }
    for b in _buckets_without(args, LOGGING):
        if b.urn in targets:
            continue  # the log bucket itself
        report(
            f"bucket '{b.name}' has no access logging: create an aws.s3.BucketLogging to the platform's log bucket "
            "(components/artifacts.py)",
            b.urn,
        )


# What losing would lose data: the model/lineage database, the buckets (weights, datasets, audit archive),
# the image repositories, the keys that decrypt them and the log groups kept for audit.
STATEFUL = (
    "aws:rds/instance:Instance",
    BUCKET,
    "aws:ecr/repository:Repository",
    "aws:kms/key:Key",
    "aws:cloudwatch/logGroup:LogGroup",
)


@POLICIES.resource(
    "stateful-resources-protected",
    "Where the tier requires it, stateful resources carry Pulumi's protect option (a replace or destroy stops).",
    Severity.HIGH,
    list(STATEFUL),
)
def _protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Databases, buckets, repositories, KMS keys and log groups are created with protect=True."""
    if not args.opts.protect:
        report(
            f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' is not protected: a replace or `pulumi destroy` "
            f"would delete its data; set protectStatefulResources: true in {STACK_FILE}"
        )


@POLICIES.resource(
    "k8s-storage-class-encrypted-gp3",
    "EBS StorageClasses create encrypted gp3 volumes (COST-07, OBS-04).",
    Severity.MEDIUM,
    [STORAGE_CLASS],
)
def _storage_class(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """EBS CSI StorageClasses set encrypted: "true" and type gp3."""
    prov = str(args.props.get("provisioner") or "")
    if prov != "ebs.csi.aws.com":
        return
    params = args.props.get("parameters") or {}
    if not truthy(params.get("encrypted")):
        report(
            f"StorageClass '{get(args.props, 'metadata.name') or args.name}' creates unencrypted EBS volumes: set parameters.encrypted: 'true'"
        )
    if str(params.get("type") or "gp3") != "gp3":
        report(
            f"StorageClass '{get(args.props, 'metadata.name') or args.name}' uses {params.get('type')}: set "
            "parameters.type: gp3 (cheaper and faster than gp2)"
        )
