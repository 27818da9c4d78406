"""RDS (the MLflow backend store) and S3 prefix scoping of workload roles (catalogue: RDS-01…05, IAM-09)."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._util import (
    STACK_FILE,
    PolicyList,
    ReportViolation,
    allows,
    as_list,
    json_doc,
    num,
    statements,
    truthy,
)

INSTANCE = "aws:rds/instance:Instance"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "aws:s3/bucket:Bucket"
S3_OBJECT_ACTIONS = ("s3:*", "s3:getobject", "s3:putobject", "s3:deleteobject", "s3:get*", "s3:put*", "s3:delete*")


POLICIES = PolicyList()


def _db(args: ResourceValidationArgs) -> str:
    return f"RDS instance '{args.props.get('identifier') or args.name}'"


@POLICIES.resource(
    "rds-instance-encrypted",
    "RDS instances are encrypted with a customer-managed KMS key (RDS-01; CKV_AWS_16, CKV_AWS_157).",
    Severity.CRITICAL,
    [INSTANCE],
)
def _encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """RDS instances set storageEncrypted with a customer-managed kmsKeyId."""
    if not truthy(args.props.get("storageEncrypted")):
        report(f"{_db(args)} is not encrypted at rest: set storageEncrypted: true with a customer-managed kmsKeyId")
    elif not args.props.get("kmsKeyId"):
        report(
            f"{_db(args)} uses the AWS-managed RDS key: set kmsKeyId to a customer-managed key (rotation, key policy)"
        )


@POLICIES.resource(
    "rds-instance-not-public",
    "RDS instances are not publicly accessible (RDS-02; CKV_AWS_17).",
    Severity.CRITICAL,
    [INSTANCE],
)
def _not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """RDS instances set publiclyAccessible: false."""
    if truthy(args.props.get("publiclyAccessible")):
        report(f"{_db(args)} is publicly accessible: set publiclyAccessible: false (clients reach it from the VPC)")


@POLICIES.resource(
    "rds-instance-backup-retention",
    "RDS instances keep automated backups long enough to restore (RDS-03; CKV_AWS_133).",
    Severity.HIGH,
    [INSTANCE],
    config={"minBackupRetentionDays": {"type": "integer", "default": 1}},
)
def _backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """RDS instances keep automated backups at least the configured number of days."""
    minimum = num(args.get_config().get("minBackupRetentionDays"), 1) or 1
    # RDS keeps 1 day when the property is unset (CreateDBInstance BackupRetentionPeriod default).
    days = num(args.props.get("backupRetentionPeriod"), 1)
    if days is None or days < minimum:
        report(
            f"{_db(args)} keeps backups {int(days or 0)} day(s): raise mlflow.dbBackupRetentionDays in {STACK_FILE} "
            f"to at least {int(minimum)}"
        )


@POLICIES.resource(
    "rds-instance-managed-master-password",
    "The master password is generated and kept by RDS in Secrets Manager, never in the program (RDS-04).",
    Severity.HIGH,
    [INSTANCE],
)
def _managed_password(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """RDS instances set manageMasterUserPassword and no password."""
    if args.props.get("password"):
        report(f"{_db(args)} has a master password in the program: set manageMasterUserPassword: true instead")
    elif not truthy(args.props.get("manageMasterUserPassword")):
        report(f"{_db(args)} has no managed master password: set manageMasterUserPassword: true (Secrets Manager)")


@POLICIES.resource(
    "rds-instance-durability",
    "Where required, RDS instances run multi-AZ with deletion protection (RDS-05; CKV_AWS_157, CKV_AWS_293).",
    Severity.HIGH,
    [INSTANCE],
    config={
        "requireMultiAz": {"type": "boolean", "default": False},
        "requireDeletionProtection": {"type": "boolean", "default": False},
    },
)
def _durability(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Where configured, RDS instances run multi-AZ with deletion protection."""
    cfg = args.get_config()
    if cfg.get("requireMultiAz") and not truthy(args.props.get("multiAz")):
        report(f"{_db(args)} has no standby: set mlflow.dbMultiAz: true in {STACK_FILE}")
    if cfg.get("requireDeletionProtection") and not truthy(args.props.get("deletionProtection")):
        report(f"{_db(args)} can be deleted: set mlflow.dbDeletionProtection: true in {STACK_FILE}")


def _whole_bucket_grants(doc: object, buckets: set[str]) -> list[tuple[str, list[str]]]:
    """(resource, actions) of statements granting S3 object actions on all of one of ``buckets``, or on ``*``."""
    out = []
    for stmt in statements(doc):
        actions = [str(a).lower() for a in as_list(stmt.get("Action"))]
        if not allows(stmt) or not any(a in S3_OBJECT_ACTIONS for a in actions):
            continue
        for res in (str(r) for r in as_list(stmt.get("Resource"))):
            bucket, _, key = res.removeprefix("arn:aws:s3:::").partition("/")
            if res == "*" or (res.startswith("arn:aws:s3:::") and bucket in buckets and key in ("", "*")):
                out.append((res, actions))
    return out


@POLICIES.stack(
    "iam-role-s3-prefix-scoped",
    "Inline role policies grant object access to the stack's buckets under a key prefix, never the whole bucket (IAM-09).",
    Severity.HIGH,
)
def _s3_prefix_scoped(args: StackValidationArgs, report: ReportViolation) -> None:
    """Roles reach the stack's own shared buckets only under a prefix of their own."""
    # The buckets are shared (weights, drift data, MLflow artifacts, DVC); buckets the stack does not
    # create (the Pulumi state bucket) are out of scope.
    buckets = {
        str(r.props.get("bucket")) for r in args.resources if r.resource_type == BUCKET and r.props.get("bucket")
    }
    for r in args.resources:
        if r.resource_type != ROLE_POLICY:
            continue
        for res, actions in _whole_bucket_grants(json_doc(r.props.get("policy")), buckets):
            report(
                f"role policy '{r.name}' grants {', '.join(actions)} on {res}: scope it to a key prefix "
                "(arn:aws:s3:::<bucket>/<prefix>/*)",
                r.urn,
            )
