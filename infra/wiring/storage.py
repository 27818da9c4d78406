"""Registry, artifacts, audit archive, DVC remote and platform images: AWS-API-only, both layers."""

from __future__ import annotations

import pulumi

from components.artifacts import Artifacts, ArtifactsArgs
from components.audit import Audit, AuditArgs, ObjectLock
from components.cluster import Cluster
from components.deploy_identity import DeployIdentity, branch_subject, environment_subject
from components.dvc_remote import DvcRemote, DvcRemoteArgs
from components.images import Images, ImagesArgs
from components.karpenter import Karpenter
from components.registry import CiPushIdentity, PullThroughUpstream, Registry, RegistryArgs
from components.serving import image_ref
from infra.config import PROJECT, PULL_THROUGH_UPSTREAMS, RUNNER_SERVICE_ACCOUNT, preview_environment_name
from infra.wiring.stack import Stack


def ci_push_identity(stack: Stack, eks: Cluster) -> CiPushIdentity | None:
    """Only the environment that builds images pushes from the cluster; staging and prod receive images
    through ``blueprint promote`` (its scan gate), never from their own CI."""
    ci = stack.cfg.ci_runners
    if not (ci.enabled and ci.push_to_registry):
        return None
    return CiPushIdentity(eks.irsa, ci.namespace, RUNNER_SERVICE_ACCOUNT)


def registry(stack: Stack, eks: Cluster, karpenter: Karpenter | None) -> Registry:
    """The ECR repositories and pull-through caches; pull for the node roles (the managed pools' and
    Karpenter's: a GPU node's DaemonSets may be the first to pull an image through a cache, which creates
    the cache repository under the registry policy), the CI push role."""
    cfg, reg = stack.cfg, stack.cfg.registry
    component = Registry(
        "registry",
        RegistryArgs(
            name_prefix=stack.cluster_name,
            region=cfg.region,
            account_id=cfg.account_id,
            repositories=reg.repository_specs(),
            scanning=reg.scanning,
            manage_registry_settings=reg.create_registry_settings,
            cache_filler_arns=reg.pull_through_principal_arns,
            pull_through_cache={
                prefix: PullThroughUpstream(PULL_THROUGH_UPSTREAMS[prefix][0], rule.credential_arn)
                for prefix, rule in reg.pull_through_cache.items()
                if rule.enabled
            },
            cache_untagged_expiry_days=reg.untagged_expiry_days,
            cache_keep_tagged_count=reg.keep_tagged_count,
            pull_principal_arns=[eks.node_role.arn, *([karpenter.node_role.arn] if karpenter else [])],
            ci_push_identity=ci_push_identity(stack, eks),
            protect=cfg.protect_stateful_resources,
            tags=stack.tags,
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
        ),
        stack.on_aws,
    )
    pulumi.export("registryUrls", component.repository_urls)
    return component


def artifacts(stack: Stack) -> Artifacts:
    """The versioned, KMS-encrypted bucket of model weights, datasets and MLflow artifacts."""
    cfg, a = stack.cfg, stack.cfg.artifacts
    bucket = Artifacts(
        "artifacts",
        ArtifactsArgs(
            bucket_prefix=f"{stack.cluster_name}-artifacts-",
            account_id=cfg.account_id,
            noncurrent_version_expiry_days=a.noncurrent_version_expiry_days,
            abort_incomplete_upload_days=a.abort_incomplete_upload_days,
            personal_data_expiry_days=a.personal_data_expiry_days,
            protect=cfg.protect_stateful_resources,
            tags=stack.tags,
        ),
        stack.on_aws,
    )
    pulumi.export("artifactBucket", bucket.bucket_name)
    return bucket


def audit(stack: Stack, bucket: Artifacts) -> Audit | None:
    """One stack per account owns the audit archive and the trail (docs/governance.md); the trail records
    the artifact bucket's object reads and writes."""
    cfg, au = stack.cfg, stack.cfg.audit
    if not au.enabled:
        return None
    component = Audit(
        "audit",
        AuditArgs(
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
            name_prefix=stack.cluster_name,
            account_id=cfg.account_id,
            region=cfg.region,
            audited_buckets={"artifacts": bucket.bucket},
            other_data_event_bucket_arns=[f"arn:aws:s3:::{b}" for b in au.additional_data_event_buckets],
            create_trail=au.trail == "create",
            organization_trail_arn=au.organization_trail_arn,
            data_events=au.data_events,
            object_lock=ObjectLock(au.object_lock.mode, au.object_lock.days) if au.object_lock else None,
            cold_after_days=au.cold_after_days,
            retention_days=au.retention_days,
            access_log_retention_days=au.access_log_retention_days,
            cloudwatch_retention_days=au.cloudwatch_retention_days,
            protect=cfg.protect_stateful_resources,
            tags=stack.tags,
        ),
        stack.on_aws,
    )
    pulumi.export("auditArchiveBucket", component.archive_bucket.bucket)
    pulumi.export("auditTrailArn", component.trail_arn)
    return component


def github_subjects(stack: Stack, identity: DeployIdentity | None) -> list[str]:
    """main, and PR runs a reviewer approved in the stack's preview environment: never bare
    ``pull_request``, whose code nobody has reviewed (ADR 0007)."""
    if identity is None:
        return []
    gh = stack.cfg.delivery
    return [
        branch_subject(gh.github_repository, gh.default_branch),
        environment_subject(gh.github_repository, preview_environment_name(stack.cfg.stack)),
    ]


def dvc(stack: Stack, bucket: Artifacts, identity: DeployIdentity | None) -> DvcRemote | None:
    """The DVC remote in the artifact bucket and the role that reads and writes it."""
    cfg = stack.cfg
    if not cfg.dvc.enabled:
        return None
    remote = DvcRemote(
        "dvc",
        DvcRemoteArgs(
            permissions_boundary=stack.boundary,
            iam_path=stack.iam_path,
            artifacts_bucket=bucket.bucket,
            artifacts_key=bucket.key,
            region=cfg.region,
            role_name=f"{PROJECT}-dvc-{cfg.stack}",
            github_provider_arn=identity.oidc_provider_arn if identity else None,
            github_subjects=github_subjects(stack, identity),
            principal_arns=cfg.dvc.principal_arns,
            tags=stack.tags,
        ),
        stack.on_aws,
    )
    pulumi.export("dvcRemote", remote.remote_url)
    pulumi.export("dvcRoleArn", remote.role.arn)
    return remote


def repository_image(reg: Registry, repository: str, tag: str | None, digest: str | None) -> pulumi.Output[str]:
    """An image reference in one of the platform's repositories."""
    return reg.repositories[repository].repository_url.apply(lambda url: image_ref(url, tag, digest))


def runner_image(stack: Stack, reg: Registry) -> pulumi.Input[str] | None:
    """The CI runner image: built and pushed only with ``images.build`` (needs a Docker daemon even to
    preview); otherwise from config, pinned by digest."""
    im = stack.cfg.images
    if im.build:
        built = {"ci-runner": reg.repositories[im.runner_repository]}
        if im.model_server_repository:
            built["model-server"] = reg.repositories[im.model_server_repository]
        images = Images("images", ImagesArgs(images=built, tag=f"{pulumi.get_stack()}-build"), stack.on_aws)
        pulumi.export("imageDigests", images.digests)
        return images.digests["ci-runner"]
    if im.runner_image is None:
        return None
    ref = im.runner_image
    return repository_image(reg, ref.repository, ref.tag, ref.digest)
