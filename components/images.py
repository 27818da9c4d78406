"""Images: container images the platform builds from ``images/<name>/`` and pushes to its registry.

Provisions one ``docker.Image`` per image (build context ``images/<name>/``, ``linux/amd64``),
pushed to its ECR repository with a short-lived token from ``aws.ecr.get_authorization_token``.
Consumers take ``digests[<name>]`` (``repo_digest``, ``<repository-url>@sha256:…``), so every
rebuild rolls out by digest, never by a moving tag.

Building is off by default: the docker provider connects to a Docker daemon and hashes the
build context even during preview (pulumi-docker ``provider.go`` Configure and
Check), and a preview must work without one. With building off, the stack takes the digest
from config (``images.runnerImage``).

Outputs: ``digests`` (image name -> ``repo@sha256:…``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"


@dataclass(frozen=True)
class ImagesArgs:
    """Inputs of :class:`Images`."""

    images: Mapping[str, aws.ecr.Repository]
    """Image name (a directory under ``images/``) -> the repository it is pushed to."""
    tag: str
    """Tag pushed alongside the digest (immutable repositories reject a reused tag: use a version or commit)."""
    platform: str = "linux/amd64"
    """Target platform (the node pools run x86_64)."""
    context_root: Path = IMAGES_DIR
    """Directory holding the build contexts."""


class Images(pulumi.ComponentResource):
    """Builds and pushes the platform's images."""

    digests: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Images", name, None, opts)
        self.digests = {}
        for image, repo in args.images.items():
            context = args.context_root / image
            if not (context / "Dockerfile").is_file():
                raise ValueError(f"image {image}: no Dockerfile in {context}")
            token = aws.ecr.get_authorization_token_output(
                registry_id=repo.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            built = docker.Image(
                f"{name}-{image}",
                image_name=repo.repository_url.apply(lambda url: f"{url}:{args.tag}"),
                build=docker.DockerBuildArgs(
                    context=str(context), dockerfile=str(context / "Dockerfile"), platform=args.platform
                ),
                registry=docker.RegistryArgs(
                    server=repo.repository_url,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                ),
                skip_push=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.digests[image] = built.repo_digest
        self.register_outputs({"digests": self.digests})
