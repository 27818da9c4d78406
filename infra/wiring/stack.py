"""The stack's identity: validated config, names every step derives resources from, the AWS provider."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pydantic import SecretStr

from infra.config import PROJECT, PlatformConfig, iam_path


@dataclass(frozen=True)
class Stack:
    """What every wiring step shares."""

    cfg: PlatformConfig
    """The validated stack config."""
    cluster_name: str
    """``<project>-<stack>``: the EKS cluster and the prefix of most physical names."""
    iam_path: str
    """IAM path of every role and policy the stack creates (ADR 0007)."""
    tags: Mapping[str, str]
    """The stack's tags (also the AWS provider's default tags)."""
    aws_provider: aws.Provider
    """The stack's one explicit AWS provider."""
    boundary: pulumi.Input[str] | None = None
    """The permissions boundary every IAM role carries, once the deploy identity made it."""

    def with_boundary(self, boundary: pulumi.Input[str] | None) -> Stack:
        """This stack with the permissions boundary the deploy identity created (None without delivery)."""
        return dataclasses.replace(self, boundary=boundary)

    @property
    def on_aws(self) -> pulumi.ResourceOptions:
        """Options of AWS-side components: the stack's explicit AWS provider."""
        return pulumi.ResourceOptions(providers=[self.aws_provider])

    def on_k8s(self, k8s_provider: pulumi.ProviderResource) -> pulumi.ResourceOptions:
        """Options of in-cluster components: AWS for IRSA roles, the cluster for Kubernetes and Helm."""
        return pulumi.ResourceOptions(providers=[self.aws_provider, k8s_provider])


def stack(cfg: PlatformConfig) -> Stack:
    """The stack's names and its one explicit AWS provider.

    The provider refuses any account but the stack's (``allowedAccountIds``) and tags everything it creates;
    components inherit it from their parent options.
    """
    tags = cfg.stack_tags
    provider = aws.Provider(
        "aws",
        region=cfg.region,
        allowed_account_ids=[cfg.account_id],
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )
    return Stack(
        cfg=cfg,
        cluster_name=f"{PROJECT}-{pulumi.get_stack()}",
        iam_path=iam_path(),
        tags=tags,
        aws_provider=provider,
    )


def secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    """A secret config value as a secret Output (None when unset)."""
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


def required_secret(value: SecretStr | None, key: str) -> pulumi.Output[str]:
    """A secret the config validation already requires for an enabled add-on (keeps the types honest)."""
    out = secret(value)
    if out is None:
        raise ValueError(f"{key} is required")
    return out
