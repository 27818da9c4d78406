"""Preflight checks of what a ``pulumi up`` needs besides capacity: who runs it, what is bootstrapped,
and whether the models' images and weights are where their Deployments will look.

- **Admission** (issue 19.5). The cluster disables the creator's implicit admin and the kubeconfig
  authenticates with ``aws eks get-token`` and the ambient credentials, so whoever runs the ``up`` must
  act as a role the cluster admits: ``cluster.adminRoleArns`` (which includes the stack's deploy role).
  An assumed-role ARN (``arn:aws:sts::…:assumed-role/NAME/SESSION``) is resolved to its role; the
  admitted roles must exist (EKS refuses an access entry for a missing principal), and the AWS CLI v2
  must be on PATH for the kubeconfig's exec plugin.
- **Bootstrap status** (issue 19.4). An environment is bootstrapped once an administrator's first
  ``up`` created its preview role; until then CI cannot even assume that role.
- **GitHub OIDC provider** (issue 19.9). ``CreateOpenIDConnectProvider`` fails when the account has
  one, so a second stack in the account must set ``delivery.createOidcProvider: false``.
- **Model artifacts** (issue 11.7). Each model's (and canary's) image must be in the stack's ECR by
  the digest (or tag) of its spec, and its weights under ``source.s3Prefix`` in the artifact bucket;
  otherwise the Deployments never become ready and the ``up`` fails after its timeout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from blueprint.ops._aws import Row, error_code
from components.model_spec import ModelImage, ModelSettings
from infra.config import PROJECT, PlatformConfig, deploy_role_arn, preview_role_name
from infra.config import admitted_role_arns as config_admitted_role_arns

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".plan", ".engine")
AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
_ASSUMED = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/")
_ROLE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.*/)?([^/]+)$")


@dataclass(frozen=True)
class Caller:
    """The identity the checks run as."""

    arn: str
    account: str
    role: tuple[str, str] | None
    """(account, role name) when the caller acts as an IAM role, else None (a user or root)."""


def caller(ident: dict[str, Any]) -> Caller:
    """The caller from ``GetCallerIdentity``, its assumed-role session resolved to the role."""
    arn = str(ident["Arn"])
    m = _ASSUMED.match(arn) or _ROLE.match(arn)
    return Caller(arn, str(ident["Account"]), (m.group(2), m.group(3)) if m else None)


def role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN. Sessions carry no role path, so roles compare by name."""
    m = _ROLE.match(arn)
    return (m.group(2), m.group(3)) if m else None


def admitted_roles(cfg: PlatformConfig) -> list[str]:
    """The role ARNs the cluster's admin access entries name."""
    return config_admitted_role_arns(cfg)


# --------------------------------------------------------------------------- admission
def check_admission(cfg: PlatformConfig, who: Caller, iam: Any) -> list[Row]:
    """The caller (or, for CI's preview role, the deploy role) is admitted, and the admitted roles exist."""
    env = cfg.stack
    admitted = admitted_roles(cfg)
    keys = {role_key(a) for a in admitted}
    deploy = deploy_role_arn(cfg.account_id, env)
    rows = []
    if who.role == (cfg.account_id, preview_role_name(env)):
        # The read-only CI preflight: the deploy job that follows runs as the deploy role.
        ok = role_key(deploy) in keys
        detail = f"caller is the preview role (CI); the deploy job acts as {deploy}"
        rows.append(Row("admission", OK if ok else FAIL, detail + ("" if ok else ", which the cluster does not admit")))
    elif who.role in keys:
        rows.append(Row("admission", OK, f"{who.arn} acts as an admitted role"))
    else:
        first = admitted[0] if admitted else "<a role in cluster.adminRoleArns>"
        rows.append(
            Row(
                "admission",
                FAIL,
                f"{who.arn} is not a principal the cluster admits (creator admin is off): run the up as one of "
                f"{', '.join(admitted) or 'none: list one in cluster.adminRoleArns'}, e.g. a profile with "
                f"role_arn = {first}, or `aws sts assume-role --role-arn {first} --role-session-name first-up`",
            )
        )
    rows += _admitted_roles_exist(cfg, admitted, deploy, iam)
    return rows


def _admitted_roles_exist(cfg: PlatformConfig, admitted: Iterable[str], deploy: str, iam: Any) -> list[Row]:
    rows = []
    for arn in admitted:
        key = role_key(arn)
        if arn == deploy or key is None:
            continue  # the stack creates its deploy role before the access entry that names it
        name = f"admin role {key[1]}"
        if key[0] != cfg.account_id:
            rows.append(Row(name, WARN, f"{arn} is in another account; not checked"))
            continue
        try:
            iam.get_role(RoleName=key[1])
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            rows.append(
                Row(
                    name,
                    FAIL,
                    f"{arn} does not exist: EKS refuses an access entry for a missing principal; create the role "
                    "(trusting your administrators) or remove it from cluster.adminRoleArns",
                )
            )
            continue
        rows.append(Row(name, OK, f"{arn} exists"))
    return rows


def check_aws_cli(run: Callable[..., Any] = subprocess.run) -> Row:
    """The kubeconfig runs ``aws eks get-token``: the AWS CLI v2 must be on PATH."""
    path = shutil.which("aws")
    if path is None:
        return Row(
            "aws cli",
            FAIL,
            f"`aws` is not on PATH; the kubeconfig runs `aws eks get-token`: install v2 ({AWS_CLI_INSTALL})",
        )
    try:
        proc = run([path, "--version"], capture_output=True, text=True, timeout=20, check=False)
        version = (proc.stdout or proc.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return Row("aws cli", FAIL, f"`{path} --version` failed ({exc}); install v2 ({AWS_CLI_INSTALL})")
    if version.startswith("aws-cli/2."):
        return Row("aws cli", OK, version.split()[0])
    return Row(
        "aws cli", FAIL, f"{path} is {version.split()[0] if version else 'unknown'}; install v2 ({AWS_CLI_INSTALL})"
    )


# --------------------------------------------------------------------------- bootstrap status, OIDC provider
def is_bootstrapped(cfg: PlatformConfig, who: Caller, iam: Any) -> tuple[bool, Row]:
    """Whether the environment's preview role exists (created by the administrator's first ``up``)."""
    role = preview_role_name(cfg.stack)
    if who.role == (cfg.account_id, role):
        return True, Row("bootstrap", OK, f"running as {role}")
    try:
        iam.get_role(RoleName=role)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False, Row(
                "bootstrap",
                WARN,
                f"{role} does not exist: the environment is not bootstrapped (an administrator's first up creates it)",
            )
        return True, Row("bootstrap", WARN, f"could not read {role} ({error_code(exc)}); assuming bootstrapped")
    return True, Row("bootstrap", OK, f"{role} exists")


def check_oidc_provider(cfg: PlatformConfig, stack: str, iam: Any) -> Row:
    """``createOidcProvider: true`` only where the account has no GitHub provider, or this environment's."""
    name = "github oidc provider"
    found = [
        p["Arn"]
        for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
        if str(p["Arn"]).endswith(f":oidc-provider/{GITHUB_OIDC_HOST}")
    ]
    key = f"delivery.createOidcProvider in stacks/Pulumi.{stack}.yaml"
    if not cfg.delivery.create_oidc_provider:
        if found:
            return Row(name, OK, f"uses the existing {found[0]}")
        return Row(name, FAIL, f"the account has no {GITHUB_OIDC_HOST} provider to use: set {key} to true")
    if not found:
        return Row(name, OK, "none in the account; this stack creates it")
    tags = {
        t["Key"]: t["Value"]
        for t in iam.get_open_id_connect_provider(OpenIDConnectProviderArn=found[0]).get("Tags", [])
    }
    if tags.get("project") == PROJECT and tags.get("environment") == cfg.environment.value:
        return Row(name, OK, f"{found[0]} was created by this environment's stack")
    return Row(
        name,
        FAIL,
        f"the account already has {found[0]} (not created by this stack): CreateOpenIDConnectProvider would fail; "
        f"set {key} to false (the stack then uses the existing provider)",
    )


# --------------------------------------------------------------------------- model images and weights
def check_images(cfg: PlatformConfig, stack: str, ecr: Any, *, first_deploy: bool) -> list[Row]:
    """Every model's and canary's image is in the stack's ECR (by digest when the spec pins one)."""
    built = cfg.images.model_server_repository if cfg.images.build else None
    rows = []
    for model in cfg.resolved_models().values():
        images = [(model.name, model.image)] + ([(f"{model.name} canary", model.canary.image)] if model.canary else [])
        for who, image in images:
            if image.repository == built:
                rows.append(Row(f"image {who}", OK, f"{image.repository} is built and pushed by the up (images.build)"))
                continue
            rows += _held(model, [_image_row(cfg, stack, ecr, who, image, first_deploy)])
    return rows


def _held(model: ModelSettings, rows: list[Row]) -> list[Row]:
    """A model with ``deploy: false`` is not deployed by this ``up``: what it lacks is a warning until it is
    switched on (README, first deploy: the Kubernetes layer goes in before anyone pushed images)."""
    if model.deploy:
        return rows
    note = f" (serving.models.{model.name}.deploy is false: needed before it is switched on)"
    return [Row(r.name, WARN, r.detail + note) if r.status == FAIL else r for r in rows]


def _image_row(cfg: PlatformConfig, stack: str, ecr: Any, who: str, image: ModelImage, first_deploy: bool) -> Row:
    registry = f"{cfg.account_id}.dkr.ecr.{cfg.region}.amazonaws.com"
    shown = f"{image.repository}@{image.digest}" if image.digest else f"{image.repository}:{image.tag}"
    image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag}
    name = f"image {who}"
    try:
        found = ecr.describe_images(registryId=cfg.account_id, repositoryName=image.repository, imageIds=[image_id])
    except ClientError as exc:
        code = error_code(exc)
        if code == "RepositoryNotFoundException":
            why = f"repository {image.repository} does not exist yet (the up creates it); then push {shown}"
            return Row(name, WARN if first_deploy else FAIL, why)
        if code != "ImageNotFoundException":
            raise
        return Row(name, FAIL, f"{shown} is not in {registry}: {_push_hint(registry, stack, image)}")
    digest = found["imageDetails"][0].get("imageDigest", "?")
    return Row(name, OK, shown if image.digest else f"{shown} -> {digest}")


def _push_hint(registry: str, stack: str, image: ModelImage) -> str:
    login = f"aws ecr get-login-password --region {registry.split('.')[3]} | docker login --username AWS --password-stdin {registry}"
    if image.digest:
        return (
            f"copy the image with that digest, e.g. `crane copy <source>@{image.digest} {registry}/{image.repository}:<tag>` "
            f"(after `{login}`), or `blueprint promote {image.repository}:<tag> --from <stack> --to {stack}`"
        )
    target = f"{registry}/{image.repository}:{image.tag}"
    return (
        f"`{login}`, then `docker tag <local image> {target}` and `docker push {target}`; "
        f"or `blueprint promote {image.repository}:{image.tag} --from <stack that has it> --to {stack}`"
    )


def artifact_bucket_prefix(stack: str) -> str:
    """The name prefix of the stack's artifact bucket (``infra/__main__.py``: ``<cluster name>-artifacts-``)."""
    return f"{PROJECT}-{stack}-artifacts-"


def find_artifact_bucket(stack: str, s3: Any) -> tuple[str | None, str]:
    """The stack's artifact bucket (a generated name with a fixed prefix), or None and why not."""
    prefix = artifact_bucket_prefix(stack)
    names = sorted(b["Name"] for b in s3.list_buckets().get("Buckets", []) if str(b["Name"]).startswith(prefix))
    if len(names) == 1:
        return names[0], ""
    if not names:
        return None, f"no bucket named {prefix}* in the account (the up creates it)"
    return (
        None,
        f"several buckets match {prefix}*: {', '.join(names)}; pass --artifact-bucket (stack output artifactBucket)",
    )


def check_weights(cfg: PlatformConfig, stack: str, s3: Any, bucket: str | None, *, first_deploy: bool) -> list[Row]:
    """Every model with ``source.s3Prefix`` has weight files under it in the artifact bucket."""
    models = [m for m in cfg.resolved_models().values() if m.source.s3_prefix]
    if not models:
        return []
    why = ""
    if bucket is None:
        bucket, why = find_artifact_bucket(stack, s3)
    rows: list[Row] = []
    for model in models:
        rows += _held(model, _weights_rows(model, bucket, why, s3, first_deploy))
    return rows


def _weights_rows(model: ModelSettings, bucket: str | None, why: str, s3: Any, first_deploy: bool) -> list[Row]:
    """The weights row of one model."""
    prefix = str(model.source.s3_prefix)
    name = f"weights {model.name}"
    if bucket is None:
        return [Row(name, WARN if first_deploy else FAIL, f"{why}; then upload the weights to {prefix}")]
    keys, size = _list(s3, bucket, prefix)
    url = f"s3://{bucket}/{prefix}"
    if not keys:
        return [Row(name, FAIL, f"nothing under {url}; upload them: `aws s3 sync <local model dir>/ {url}`")]
    if not any(k.endswith(WEIGHT_SUFFIXES) for k in keys):
        return [
            Row(name, WARN, f"{len(keys)} object(s) under {url} but no weight files ({', '.join(WEIGHT_SUFFIXES)})")
        ]
    return [Row(name, OK, f"{len(keys)} object(s), {size / 1024**3:.1f} GiB under {url}")]


def _list(s3: Any, bucket: str, prefix: str, limit: int = 10_000) -> tuple[list[str], int]:
    keys: list[str] = []
    size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            keys.append(str(obj["Key"]))
            size += int(obj.get("Size", 0))
        if len(keys) >= limit:
            break
    return keys, size
