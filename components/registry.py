"""Registry: the platform's private ECR registry and its CI push role.

Provisions:
- a customer-managed KMS key (yearly rotation, 30-day deletion window, description) and an
  alias, protected and retained when ``protect`` is set;
- one ECR repository per configured name (the explicit name is the config key, so image
  references and the CI role's scope are stable), with tag mutability from config, KMS
  encryption with that key and never ``force_delete``; protected and retained when ``protect``;
- a lifecycle policy on every repository: expire untagged images after N days, keep the last
  N tagged images;
- a repository policy on every repository: pull for the node role (``pull_principal_arns``),
  push only for the CI runners' IRSA role; no ``*`` principal;
- the registry-level scanning configuration covering every repository: ``basic`` scans on push,
  ``enhanced`` turns on Amazon Inspector continuous scanning;
- the CI push role (IRSA, one namespace/service account) allowed to push only to these
  repositories;
- pull-through cache rules for the enabled upstreams (ECR Public, registry.k8s.io, quay.io
  without credentials; Docker Hub, ghcr.io, nvcr.io with a Secrets Manager ARN), a repository
  creation template per cache prefix so the repositories ECR creates on first pull get KMS
  encryption, the lifecycle policy and the pull policy, the role ECR uses to apply the template,
  and a registry policy that lets the pullers trigger that first pull.

The scanning configuration, the registry policy and the pull-through cache rules (with their creation
templates) are singletons per account and region: with ``manage_registry_settings=False`` another stack
owns them and this one creates none of them; its repositories then scan on push, and its nodes fill the
caches through the owner's registry policy (the owner lists them in ``cache_filler_arns``).

Outputs: ``repositories`` (name -> ``aws.ecr.Repository``), ``repository_urls``
(``Output[dict[str, str]]``), ``ci_push_role`` (``aws.iam.Role | None``), ``key``
(``aws.kms.Key``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components._common import Irsa, assume_role_policy, customer_managed_key, irsa_role, policy_json, retained

# Actions a client needs to push an image (and to check which layers already exist), from
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
PUSH_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
# The read-only set the CIS EKS benchmark (5.1.3) allows for the cluster's nodes.
PULL_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
# What a first pull through a cache rule needs beyond PULL_ACTIONS: ECR creates the cache
# repository and imports the upstream image on the caller's behalf. CreateRepository can only be
# granted by an identity policy or the registry policy, not a repository policy:
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html
PULL_THROUGH_ACTIONS: tuple[str, ...] = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")


@dataclass(frozen=True)
class RepositorySpec:
    """One repository, with the registry defaults already applied."""

    image_tag_mutability: Literal["IMMUTABLE", "MUTABLE"] = "IMMUTABLE"
    """IMMUTABLE (default): a pushed tag can never point at another image."""
    untagged_expiry_days: int = 14
    """Expire untagged images (superseded layers, failed builds) after this many days."""
    keep_tagged_count: int = 50
    """Keep at most this many tagged images; older ones expire, even if still deployed, so keep it above
    the rollback window (releases that may still run)."""


@dataclass(frozen=True)
class PullThroughUpstream:
    """One pull-through cache rule: ``<registry>/<prefix>/<image>`` pulls through to ``upstream_url``."""

    upstream_url: str
    """Upstream registry host, e.g. ``registry.k8s.io``."""
    credential_arn: str | None = None
    """Secrets Manager ARN (name prefix ``ecr-pullthroughcache/``) for upstreams that need credentials."""


@dataclass(frozen=True)
class CiPushIdentity:
    """The Kubernetes service account the CI runners run as, and the cluster's OIDC provider."""

    irsa: Irsa
    """The cluster's IAM OIDC provider."""
    namespace: str
    """Namespace of the runner pods."""
    service_account: str
    """Service account of the runner pods; only it can assume the push role."""


@dataclass(frozen=True)
class RegistryArgs:
    """Inputs of :class:`Registry`."""

    name_prefix: str
    """Prefix of the KMS alias and key description, e.g. ``ai-platform-dev``."""
    region: str
    """AWS region (ARNs of the cache repositories)."""
    account_id: str
    """AWS account (the key policy and ARNs)."""
    repositories: Mapping[str, RepositorySpec]
    """Repositories keyed by their ECR name."""
    scanning: Literal["basic", "enhanced"] = "basic"
    """``basic``: scan on push; ``enhanced``: Amazon Inspector continuous scanning of every repository."""
    pull_through_cache: Mapping[str, PullThroughUpstream] = field(default_factory=dict)
    """Enabled pull-through cache rules keyed by repository prefix (``k8s``, ``quay``, ...)."""
    cache_untagged_expiry_days: int = 14
    """Lifecycle of the cache repositories ECR creates: expire untagged images after this many days."""
    cache_keep_tagged_count: int = 50
    """Lifecycle of the cache repositories: keep at most this many tagged images."""
    pull_principal_arns: Sequence[pulumi.Input[str]] = ()
    """IAM roles that may pull (the node role). Empty: no pull statement (same-account identity policies still apply)."""
    ci_push_identity: CiPushIdentity | None = None
    """The CI runners' service account. None: no CI push role (nothing but admins can push)."""
    key_deletion_window_days: int = 30
    """KMS key deletion window, the longest AWS allows, so a mistaken deletion can be cancelled."""
    protect: bool = True
    """Protect and retain the key and the repositories (images are not reproducible)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable resource."""
    permissions_boundary: pulumi.Input[str] | None = None
    """ARN of the permissions boundary every IAM role here carries (``DeployIdentity.boundary_arn``), so the CI
    deploy role, which may only manage roles under it, can manage them (docs/adr/0007). None: no boundary."""
    cache_filler_arns: Sequence[str] = ()
    """More principals the registry policy lets fill the pull-through caches: the node roles of the other stacks
    of this account and region (their ``nodeRoleArn`` output), which have no registry policy of their own and whose
    node role may carry no policy beyond ECR read-only (pack: iam-node-role-least-privilege)."""
    manage_registry_settings: bool = True
    """Create the registry-level settings (scanning configuration, registry policy, pull-through cache rules and
    creation templates). False where another stack in the account and region owns them (ECR holds one of each)."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""


def lifecycle_policy(untagged_expiry_days: int, keep_tagged_count: int) -> str:
    """An ECR lifecycle policy: expire untagged images after N days, keep the last N tagged ones.

    Syntax from https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html:
    ``tagStatus: tagged`` needs a ``tagPatternList`` (or ``tagPrefixList``); ``["*"]`` matches every tag.
    Keys are sorted so the document does not churn in diffs.
    """
    rules = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {untagged_expiry_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_expiry_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the last {keep_tagged_count} tagged images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": keep_tagged_count,
            },
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


def repository_policy(pull_arns: Sequence[str], push_arns: Sequence[str]) -> str:
    """A repository policy naming the pull and push roles (at least one of them)."""
    statements: list[dict[str, Any]] = [
        {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": sorted(arns)}, "Action": list(actions)}
        for sid, arns, actions in (("NodePull", pull_arns, PULL_ACTIONS), ("CiPush", push_arns, PUSH_ACTIONS))
        if arns
    ]
    if not statements:
        raise ValueError("a repository policy needs a pull or a push principal")
    return policy_json(statements)


class Registry(pulumi.ComponentResource):
    """KMS-encrypted ECR repositories with lifecycle, scanning, pull-through caches and a CI push role."""

    repositories: dict[str, aws.ecr.Repository]
    repository_urls: pulumi.Output[dict[str, str]]
    ci_push_role: aws.iam.Role | None
    key: aws.kms.Key

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Registry", name, None, opts)
        # ECR itself uses the key through grants it creates per repository
        # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html).
        self.key = customer_managed_key(
            f"{name}-key",
            parent=self,
            description=f"{args.name_prefix} ECR image encryption",
            alias=f"{args.name_prefix}-ecr",
            account_id=args.account_id,
            protect=args.protect,
            deletion_window_days=args.key_deletion_window_days,
            tags=dict(args.tags),
        )
        self.repositories = {
            repo_name: self._repository(name, repo_name, spec, args) for repo_name, spec in args.repositories.items()
        }
        if args.manage_registry_settings:
            self._scanning(name, args)
        self.ci_push_role = self._ci_push_role(name, args) if args.ci_push_identity else None
        self._repository_policies(name, args)
        if args.pull_through_cache and args.manage_registry_settings:
            self._pull_through(name, args)

        self.repository_urls = pulumi.Output.all(**{n: r.repository_url for n, r in self.repositories.items()}).apply(
            lambda urls: dict(urls)
        )
        self.register_outputs(
            {
                "repository_urls": self.repository_urls,
                "ci_push_role_arn": self.ci_push_role.arn if self.ci_push_role else None,
                "key_arn": self.key.arn,
            }
        )

    def _repository(self, name: str, repo_name: str, spec: RepositorySpec, args: RegistryArgs) -> aws.ecr.Repository:
        # With enhanced scanning the registry-level configuration decides and this flag is ignored; without
        # the registry settings (another stack owns them) the repository scans on push whatever they say.
        scan_on_push = args.scanning == "basic" or not args.manage_registry_settings
        return aws.ecr.Repository(
            f"{name}-{repo_name.replace('/', '-')}",
            name=repo_name,
            image_tag_mutability=spec.image_tag_mutability,
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=scan_on_push),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=self.key.arn)
            ],
            # Never force_delete: deleting a repository that still holds images must fail.
            force_delete=False,
            tags={**args.tags, "Name": repo_name},
            opts=retained(self, args.protect),
        )

    def _repository_policies(self, name: str, args: RegistryArgs) -> None:
        """A lifecycle policy on every repository, and the pull/push repository policy where there are principals."""
        child = pulumi.ResourceOptions(parent=self)
        push_arns = [self.ci_push_role.arn] if self.ci_push_role else []
        policy = (
            pulumi.Output.all(list(args.pull_principal_arns), push_arns).apply(lambda a: repository_policy(a[0], a[1]))
            if args.pull_principal_arns or push_arns
            else None
        )
        for repo_name, spec in args.repositories.items():
            repo = self.repositories[repo_name]
            res = repo_name.replace("/", "-")
            aws.ecr.LifecyclePolicy(
                f"{name}-{res}-lifecycle",
                repository=repo.name,
                policy=lifecycle_policy(spec.untagged_expiry_days, spec.keep_tagged_count),
                opts=child,
            )
            if policy is not None:
                aws.ecr.RepositoryPolicy(f"{name}-{res}-policy", repository=repo.name, policy=policy, opts=child)

    def _scanning(self, name: str, args: RegistryArgs) -> None:
        # One rule for every repository (the `*` wildcard filter), so that repositories ECR
        # creates for the pull-through caches are scanned too (a creation template cannot set
        # scanning). Enhanced scanning hands scanning to Amazon Inspector and scans continuously,
        # as new CVEs are published, not only on push:
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-enabling.html
        enhanced = args.scanning == "enhanced"
        aws.ecr.RegistryScanningConfiguration(
            f"{name}-scanning",
            scan_type="ENHANCED" if enhanced else "BASIC",
            rules=[
                aws.ecr.RegistryScanningConfigurationRuleArgs(
                    scan_frequency="CONTINUOUS_SCAN" if enhanced else "SCAN_ON_PUSH",
                    repository_filters=[
                        aws.ecr.RegistryScanningConfigurationRuleRepositoryFilterArgs(
                            filter="*", filter_type="WILDCARD"
                        )
                    ],
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _ci_push_role(self, name: str, args: RegistryArgs) -> aws.iam.Role:
        ident = args.ci_push_identity
        if ident is None:
            raise ValueError("the CI push role needs RegistryArgs.ci_push_identity")
        arns = pulumi.Output.all(*[r.arn for r in self.repositories.values()])
        policy = arns.apply(
            lambda repo_arns: policy_json(
                [
                    {
                        "Sid": "PushPlatformRepositories",
                        "Effect": "Allow",
                        "Action": list(PUSH_ACTIONS),
                        "Resource": sorted(repo_arns),
                    },
                    {
                        # GetAuthorizationToken does not support resource-level permissions; it must
                        # be granted on "*" (Service Authorization Reference, Amazon ECR actions). The
                        # token alone grants nothing: every push is still authorised per repository.
                        "Sid": "RegistryLogin",
                        "Effect": "Allow",
                        "Action": "ecr:GetAuthorizationToken",
                        "Resource": "*",
                    },
                ]
            )
        )
        # No KMS statement: "Amazon ECR adds an AWS KMS grant to the KMS key with the Amazon ECR
        # repository as the grantee principal" and makes the GenerateDataKey/Decrypt calls itself
        # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html), so
        # pushing to a KMS-encrypted repository needs only the ECR actions above.
        return irsa_role(
            f"{name}-ci-push",
            ident.irsa,
            ident.namespace,
            ident.service_account,
            parent=self,
            policy=policy,
            tags={**args.tags, "Name": f"{name}-ci-push"},
        )

    def _pull_through(self, name: str, args: RegistryArgs) -> None:
        prefixes = sorted(args.pull_through_cache)
        template_role, template_policy = self._cache_template_role(name, args, _cache_arns(args))
        pull_policy = (
            pulumi.Output.all(*args.pull_principal_arns).apply(lambda a: repository_policy(a, []))
            if args.pull_principal_arns
            else None
        )
        for prefix in prefixes:
            self._cache_rule(name, prefix, args, template_role, template_policy, pull_policy)
        if args.pull_principal_arns or args.cache_filler_arns:
            self._registry_policy(name, args)

    def _cache_template_role(
        self, name: str, args: RegistryArgs, cache_arns: list[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        # ECR needs a role of ours to create cache repositories with a KMS key (it creates grants
        # on the key); trust policy and permissions from
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates-create-iam.html
        # and …/repository-creation-templates-custom.html, scoped here to the cache prefixes and our
        # key (ecr:ReplicateImage from the documented policy is left out: no replication here).
        child = pulumi.ResourceOptions(parent=self)
        template_role = aws.iam.Role(
            f"{name}-cache-template-role",
            assume_role_policy=assume_role_policy({"Service": "ecr.amazonaws.com"}),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags={**args.tags, "Name": f"{name}-cache-template-role"},
            opts=child,
        )
        template_policy = aws.iam.RolePolicy(
            f"{name}-cache-template-policy",
            role=template_role.id,
            policy=self.key.arn.apply(
                lambda key_arn: policy_json(
                    [
                        {
                            "Sid": "CreateCacheRepositories",
                            "Effect": "Allow",
                            "Action": ["ecr:CreateRepository", "ecr:TagResource"],
                            "Resource": cache_arns,
                        },
                        {
                            "Sid": "EncryptWithRegistryKey",
                            "Effect": "Allow",
                            "Action": ["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"],
                            "Resource": key_arn,
                        },
                    ]
                )
            ),
            opts=child,
        )
        return template_role, template_policy

    def _cache_rule(
        self,
        name: str,
        prefix: str,
        args: RegistryArgs,
        template_role: aws.iam.Role,
        template_policy: aws.iam.RolePolicy,
        pull_policy: pulumi.Output[str] | None,
    ) -> None:
        upstream = args.pull_through_cache[prefix]
        aws.ecr.PullThroughCacheRule(
            f"{name}-cache-{prefix}",
            ecr_repository_prefix=prefix,
            upstream_registry_url=upstream.upstream_url,
            credential_arn=upstream.credential_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecr.RepositoryCreationTemplate(
            f"{name}-cache-{prefix}-template",
            prefix=prefix,
            description=f"Cache repositories for {upstream.upstream_url}",
            applied_fors=["PULL_THROUGH_CACHE"],
            custom_role_arn=template_role.arn,
            encryption_configurations=[
                aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=self.key.arn
                )
            ],
            # Cache repositories mirror tags the upstream owns and moves. "Turning on image tag
            # immutability for repositories using a pull through cache rule will prevent Amazon
            # ECR from updating images using the same tag"
            # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html).
            # Pin upstream images by digest instead.
            image_tag_mutability="MUTABLE",
            lifecycle_policy=lifecycle_policy(args.cache_untagged_expiry_days, args.cache_keep_tagged_count),
            repository_policy=pull_policy,
            resource_tags={**args.tags, "pull-through-cache": prefix},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[template_policy]),
        )

    def _registry_policy(self, name: str, args: RegistryArgs) -> None:
        # The first pull of an image creates its cache repository as the puller; grant exactly
        # that, limited to the cache prefixes. These two are the only pull-through actions a
        # registry policy accepts
        # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html).
        cache_arns = _cache_arns(args)
        aws.ecr.RegistryPolicy(
            f"{name}-registry-policy",
            policy=pulumi.Output.all(*args.pull_principal_arns, *args.cache_filler_arns).apply(
                lambda a: policy_json(
                    [
                        {
                            "Sid": "PullThroughCache",
                            "Effect": "Allow",
                            "Principal": {"AWS": sorted(a)},
                            "Action": list(PULL_THROUGH_ACTIONS),
                            "Resource": cache_arns,
                        }
                    ]
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _cache_arns(args: RegistryArgs) -> list[str]:
    """The repositories ECR creates under the cache prefixes."""
    return [
        f"arn:aws:ecr:{args.region}:{args.account_id}:repository/{prefix}/*"
        for prefix in sorted(args.pull_through_cache)
    ]
