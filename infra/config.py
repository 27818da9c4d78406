"""The stack configuration: one typed, frozen, validated model, loaded once per run.

Every key the program reads is declared in ``Pulumi.yaml`` and parsed here into
:class:`PlatformConfig`. Components never read ``pulumi.Config``; ``infra/__main__.py``
hands each one its own section.

Validation reports every problem at once, each with the stack file, the key path
(``ai-platform:nodePools.gpu-a10g.maxSize``), the bad value and what is allowed, and raises
:class:`ConfigError` (a ``pulumi.RunError``, so the language host prints the message without a
traceback) before any resource is registered.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components.ci_runners import RunnerScaleSet
from components.model_spec import (
    CanarySettings,
    LineageSettings,
    ModelAutoscaling,
    ModelImage,
    ModelSettings,
    WeightsSource,
    served_model_name,
)
from components.vocabulary import (  # noqa: F401 - re-exported for code that still imports them from here
    CPU_AMI_TYPES,
    GPU_AMI_TYPES,
    GPU_FAMILIES,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_ACCELERATOR,
    LABEL_AMI_FAMILY,
    LABEL_GPU_MODEL,
    LABEL_POOL,
    RUNNER_SERVICE_ACCOUNT,
    AmiType,
    GpuInstanceFamily,
    gpu_facts,
)
from infra import input_rules
from infra.eks_versions import supported_versions

PROJECT = "ai-platform"

# EKS Kubernetes versions in standard (and extended) support: the dated, sourced table in
# infra/eks_versions.py; update it there.
EKS_STANDARD_SUPPORT_VERSIONS: tuple[str, ...] = supported_versions("STANDARD")
EKS_EXTENDED_SUPPORT_VERSIONS: tuple[str, ...] = supported_versions("EXTENDED")

# CloudWatch Logs accepts only these retention values (PutRetentionPolicy API).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

REQUIRED_TAGS: tuple[str, ...] = ("owner", "cost-center")

# Keys whose values must arrive as `secure:` config. Mirrors `secret: true` in Pulumi.yaml.
SECRET_KEYS: tuple[str, ...] = (
    "grafanaAdminPassword",
    "alertmanagerSlackWebhookUrl",
    "alertmanagerPagerdutyRoutingKey",
    "githubAppPrivateKey",
    "mlflowAdminPassword",
    "gitlabRunnerToken",
    "gitlabGpuRunnerToken",
    "jenkinsAdminPassword",
    "circleciCpuResourceClassToken",
    "circleciGpuResourceClassToken",
)

# Secrets a stack may leave unset: Pulumi.yaml declares them with `default: ""` (the CLI refuses an `up`
# while a declared key without a default has no value; pkg/workspace/config.go, missingConfigurationKeys).
OPTIONAL_SECRET_KEYS: tuple[str, ...] = (
    "alertmanagerPagerdutyRoutingKey",
    # CI backends a stack may leave off (ciRunners.gitlab/jenkins/circleci); required when enabled.
    "gitlabRunnerToken",
    "gitlabGpuRunnerToken",
    "jenkinsAdminPassword",
    "circleciCpuResourceClassToken",
    "circleciGpuResourceClassToken",
)

# Any nested key whose name looks like one of these must not hold a plaintext value.
_SECRETISH = re.compile(r"(password|passwd|secret|token|private[-_]?key|webhook|api[-_]?key)", re.I)


_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ECR_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/[\w+=,.@/-]+$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")


def _quantity(v: str | None) -> str | None:
    """The one check behind every config field that holds a Kubernetes quantity (cpu, memory, sizes)."""
    if v is not None and not _QUANTITY.match(v):
        raise ValueError("a Kubernetes quantity such as 4, 500m, 16Gi")
    return v


_DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")


class Environment(StrEnum):
    """The deployment tier. It is data: components never branch on it."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


# --------------------------------------------------------------------------- network
class NetworkConfig(_Model):
    """The VPC: subnets, NAT, flow logs and endpoints."""

    cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC, /16 to /20."""
    availability_zones: list[str] = Field(min_length=1, max_length=6)
    """Availability zones to span, e.g. ``[us-west-2a, us-west-2b]``. Each gets a public and a private subnet."""
    nat_gateways: Literal["single", "per-az"] = "per-az"
    """``per-az`` (default) survives an AZ outage; ``single`` saves cost in dev."""
    private_subnet_prefix: int = Field(default=19, ge=16, le=26)
    """Prefix length of each private subnet; pods take their IPs from these (VPC CNI), so keep them large."""
    public_subnet_prefix: int = Field(default=24, ge=20, le=28)
    """Prefix length of each public subnet (load balancers and NAT gateways only)."""
    flow_log_retention_days: int = 90
    """Retention of the VPC flow-log group, in days (a CloudWatch Logs retention value)."""
    vpc_endpoints: bool = True
    """Create an S3 gateway endpoint and ECR api/dkr and STS interface endpoints, so image pulls skip NAT."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 CIDR ({exc})") from None
        if not 16 <= net.prefixlen <= 20:
            raise ValueError("the VPC prefix length must be between /16 and /20")
        return v

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _check_retention(v)


# --------------------------------------------------------------------------- registry
class RepositoryConfig(_Model):
    """One ECR repository; unset fields fall back to the registry-level defaults."""

    image_tag_mutability: Literal["IMMUTABLE", "MUTABLE"] | None = None
    """Overrides ``registry.imageTagMutability``."""
    untagged_expiry_days: int | None = Field(default=None, ge=1, le=3650)
    """Overrides ``registry.untaggedExpiryDays``."""
    keep_tagged_count: int | None = Field(default=None, ge=1, le=10000)
    """Overrides ``registry.keepTaggedCount``."""


class PullThroughCacheRule(_Model):
    """One pull-through cache upstream."""

    enabled: bool = True
    """Create the rule."""
    credential_arn: str | None = None
    """Secrets Manager ARN (name prefix ``ecr-pullthroughcache/``) for upstreams that need credentials."""


PULL_THROUGH_UPSTREAMS: Mapping[str, tuple[str, bool]] = {
    # prefix -> (upstream registry URL, needs credentials). ECR's supported upstreams:
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html
    "ecr-public": ("public.ecr.aws", False),
    "k8s": ("registry.k8s.io", False),
    "quay": ("quay.io", False),
    "docker-hub": ("registry-1.docker.io", True),
    "ghcr": ("ghcr.io", True),
    "nvcr": ("nvcr.io", True),
}


class RegistryConfig(_Model):
    """ECR repositories, scanning and pull-through caches."""

    repositories: dict[str, RepositoryConfig] = Field(default_factory=dict)
    """Repositories keyed by name (the ECR repository name)."""
    image_tag_mutability: Literal["IMMUTABLE", "MUTABLE"] = "IMMUTABLE"
    """Default tag mutability. Staging and prod require IMMUTABLE."""
    scanning: Literal["basic", "enhanced"] = "basic"
    """``basic``: scan on push per repository; ``enhanced``: registry-level Inspector scanning."""
    untagged_expiry_days: int = Field(default=14, ge=1, le=3650)
    """Expire untagged images after this many days."""
    keep_tagged_count: int = Field(default=50, ge=1, le=10000)
    """Keep at most this many tagged images per repository."""
    pull_through_cache: dict[str, PullThroughCacheRule] = Field(
        default_factory=lambda: {k: PullThroughCacheRule() for k in ("ecr-public", "k8s", "quay")}
    )
    """Pull-through cache rules keyed by upstream: ecr-public, k8s, quay, docker-hub, ghcr, nvcr."""

    @field_validator("repositories")
    @classmethod
    def _names(cls, v: dict[str, RepositoryConfig]) -> dict[str, RepositoryConfig]:
        bad = [k for k in v if not (2 <= len(k) <= 256 and _ECR_NAME.match(k))]
        if bad:
            raise ValueError(f"invalid ECR repository name(s) {bad}: use lowercase letters, digits, . _ - and /")
        return v

    @field_validator("pull_through_cache")
    @classmethod
    def _upstreams(cls, v: dict[str, PullThroughCacheRule]) -> dict[str, PullThroughCacheRule]:
        unknown = sorted(set(v) - set(PULL_THROUGH_UPSTREAMS))
        if unknown:
            raise ValueError(f"unknown upstream(s) {unknown}; allowed: {', '.join(PULL_THROUGH_UPSTREAMS)}")
        return v


class ArtifactsConfig(_Model):
    """The S3 bucket for model weights and dataset versions (also a DVC remote)."""

    noncurrent_version_expiry_days: int = Field(default=90, ge=1, le=3650)
    """Delete noncurrent object versions after this many days."""
    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=365)
    """Abort incomplete multipart uploads after this many days."""
    personal_data_expiry_days: dict[str, int] = Field(default_factory=dict)
    """Retention by data class: key prefix that can hold personal data (e.g. ``drift/current/``, captured
    inference inputs for drift evaluation) -> delete its objects, and their old versions, after this many days."""

    @field_validator("personal_data_expiry_days")
    @classmethod
    def _personal_data(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [p for p in v if not re.fullmatch(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/", p)]
        if bad:
            raise ValueError(f"key prefixes ending in '/' without a leading '/' (e.g. drift/current/): {bad}")
        out_of_range = [p for p, d in v.items() if not 1 <= d <= 3650]
        if out_of_range:
            raise ValueError(f"expiry days must be 1..3650 for {out_of_range}")
        return v


# --------------------------------------------------------------------------- audit
_TRAIL_ARN = re.compile(r"^arn:aws(-[a-z]+)?:cloudtrail:[a-z0-9-]+:\d{12}:trail/[\w.-]{3,128}$")


class ObjectLockConfig(_Model):
    """Default S3 Object Lock retention of the audit archive."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE"
    """``COMPLIANCE``: no one, not even the root user, can delete or alter a log version before it ends;
    ``GOVERNANCE``: principals with ``s3:BypassGovernanceRetention`` can."""
    days: int = Field(ge=1, le=36500)
    """Retention period in days."""


class AuditConfig(_Model):
    """Audit trail: the account's log archive, CloudTrail and S3 access logs (docs/governance.md).

    One stack per AWS account owns these account-wide resources (the one-owner rule): a stack with
    ``enabled: true`` owns them; other stacks in the same account set ``enabled: false``.
    """

    enabled: bool = True
    """Create the audit archive, access logging and (with ``trail: create``) the trail in this account."""
    owned_by: str | None = None
    """With ``enabled: false``: the stack in the same account that owns the audit resources (a second stack
    in an account must not create them again; the preview refuses two owners per account)."""
    trail: Literal["create", "organization"] = "create"
    """``create``: a multi-region trail (management events + the artifact bucket's data events).
    ``organization``: an organization trail already records this account; no trail is created here (a
    second one would pay for a second copy of every management event), only the archive and the access
    logs; the organization trail's owner adds the artifact bucket's data events."""
    organization_trail_arn: str | None = None
    """ARN of the organization trail; required with ``trail: organization``."""
    data_events: Literal["all", "write", "read"] = "all"
    """Object-level operations on the artifact bucket the trail records (reads of datasets and weights, writes, or both)."""
    object_lock: ObjectLockConfig | None = None
    """Default Object Lock retention of the archive (required in prod)."""
    cold_after_days: int = Field(default=90, ge=30, le=3650)
    """Move archived logs and records to Glacier Instant Retrieval after this many days."""
    retention_days: int = Field(default=2557, ge=90, le=36500)
    """Delete archived logs and deployment records after this many days (default 7 years)."""
    access_log_retention_days: int = Field(default=365, ge=30, le=36500)
    """Delete S3 server access logs after this many days."""
    cloudwatch_retention_days: int | None = None
    """Also deliver the trail to CloudWatch Logs, kept this many days (a CloudWatch retention value)."""

    @field_validator("organization_trail_arn")
    @classmethod
    def _org_arn(cls, v: str | None) -> str | None:
        if v is not None and not _TRAIL_ARN.match(v):
            raise ValueError("a CloudTrail trail ARN such as arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail")
        return v

    @field_validator("cloudwatch_retention_days")
    @classmethod
    def _cw_retention(cls, v: int | None) -> int | None:
        return v if v is None else _check_retention(v)


# --------------------------------------------------------------------------- cluster
EKS_ADDONS: tuple[str, ...] = (
    "vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver",
)  # fmt: skip


class ClusterConfig(_Model):
    """The EKS control plane."""

    version: str
    """Kubernetes minor version; must be in EKS standard support (extended support with ``supportType: EXTENDED``)."""
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """EKS version policy (``upgradePolicy.supportType``). ``STANDARD``: no extended-support charges, but EKS
    upgrades the control plane itself at the end of standard support (upgrade ``version`` before then;
    the preview and ``blueprint preflight`` warn 60 days ahead). ``EXTENDED``: the version stays for 12
    more months at the extended-support price."""
    endpoint_public_access: bool = False
    """Expose the public API endpoint. Off by default; needs ``publicAccessCidrs``; never in prod."""
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach the public endpoint. 0.0.0.0/0 is refused."""
    admin_role_arns: list[str] = Field(default_factory=list)
    """IAM role ARNs granted cluster admin through access entries (the CI deploy role included)."""
    log_retention_days: int = 90
    """Retention of the control-plane log group, in days."""
    addon_versions: dict[str, str] = Field(default_factory=dict)
    """Pinned EKS add-on versions keyed by add-on name; unset ones take the EKS default for the version."""

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in EKS_EXTENDED_SUPPORT_VERSIONS:
            raise ValueError(f"allowed (EKS standard support): {', '.join(EKS_STANDARD_SUPPORT_VERSIONS)}")
        return v

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                net = ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR") from None
            if net.prefixlen == 0:
                raise ValueError(f"{c!r} opens the API to the internet; list specific CIDRs")
        return v

    @field_validator("admin_role_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return v

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _check_retention(v)

    @field_validator("addon_versions")
    @classmethod
    def _addons(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(EKS_ADDONS))
        if unknown:
            raise ValueError(f"unknown add-on(s) {unknown}; allowed: {', '.join(EKS_ADDONS)}")
        return v


# --------------------------------------------------------------------------- node pools
class KarpenterPoolSpec(_Model):
    """Karpenter settings of one GPU pool. Unset families/sizes/capacity types follow ``instanceTypes``/``capacityType``."""

    instance_families: list[str] | None = Field(default=None, min_length=1, max_length=10)
    """Instance families Karpenter may choose from (``karpenter.k8s.aws/instance-family``), e.g. ``[g5, g6]``."""
    instance_sizes: list[str] | None = Field(default=None, min_length=1, max_length=10)
    """Instance sizes (``karpenter.k8s.aws/instance-size``), e.g. ``[2xlarge, 4xlarge]``; all with the same GPU count."""
    capacity_types: list[Literal["on-demand", "spot", "reserved"]] | None = Field(default=None, min_length=1)
    """``karpenter.sh/capacity-type`` values; Karpenter prefers reserved, then spot, then on-demand."""
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmpty"
    """``WhenEmpty`` (default): a GPU node serving traffic is never consolidated away mid-request; only empty
    nodes go (ADR 0012). ``WhenEmptyOrUnderutilized`` also repacks busy nodes (batch pools)."""
    consolidate_after: str = "10m"
    """How long a node stays empty before it is removed (absorbs scale-down/scale-up flapping)."""
    expire_after: str = "720h"
    """Maximum node lifetime (picks up new AMIs); ``Never`` disables expiry."""
    budget_nodes: str = "1"
    """Disruption budget: nodes (or ``N%``) of the pool disrupted at once by consolidation, drift or expiry."""
    image_pull: Literal["soci", "snapshot", "standard"] | None = None
    """Image pull path: ``soci`` (AL2023 SOCI parallel pull; default on AL2023, no build step), ``snapshot``
    (Bottlerocket data volume from a pre-pulled image snapshot, ``imageCacheSnapshotId``), ``standard``."""
    image_cache_snapshot_id: str | None = Field(default=None, pattern=r"^snap-[0-9a-f]{8,17}$")
    """EBS snapshot of a Bottlerocket data volume with the serving images pre-pulled (``imagePull: snapshot``)."""

    @field_validator("consolidate_after", "expire_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        # The CRD's pattern for consolidateAfter/expireAfter: ^(([0-9]+(s|m|h))+|Never)$
        if not re.fullmatch(r"([0-9]+(s|m|h))+|Never", v):
            raise ValueError("a duration such as 10m, 720h or Never")
        return v

    @field_validator("budget_nodes")
    @classmethod
    def _budget(cls, v: str) -> str:
        if not re.fullmatch(r"\d+%?", v):
            raise ValueError("a node count or percentage such as 1 or 10%")
        return v


class NodePoolSpec(_Model):
    """A node pool's settings. In ``nodePools`` every unset field falls back to ``nodePoolDefaults``."""

    instance_types: list[str] | None = Field(default=None, min_length=1, max_length=20)
    """EC2 instance types; a GPU pool lists types with the same GPU count."""

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, v: list[str] | None) -> list[str] | None:
        bad = [f"{t[:40]!r}: {p}" for t in v or [] if (p := input_rules.instance_type_problem(t))]
        if bad:
            raise ValueError("; ".join(bad[:3]))
        return v

    ami_type: AmiType | None = None
    """EKS AMI type. Unset: AL2023 standard for CPU pools, AL2023 NVIDIA for GPU pools."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] | None = None
    """ON_DEMAND or SPOT."""
    min_size: int | None = Field(default=None, ge=0, le=1000)
    """Minimum nodes; 0 lets the autoscaler scale the pool to zero."""
    desired_size: int | None = Field(default=None, ge=0, le=1000)
    """Nodes at creation; afterwards the cluster-autoscaler owns it."""
    max_size: int | None = Field(default=None, ge=1, le=1000)
    """Maximum nodes."""
    disk_size_gib: int | None = Field(default=None, ge=20, le=16384)
    """Root volume size. GPU pools default to at least 200 GiB for large model images."""
    max_unavailable: int | None = Field(default=None, ge=1, le=100)
    """Nodes replaced at once during an update."""
    labels: dict[str, str] | None = None
    """Extra node labels, merged over the defaults' labels."""
    auto_repair: bool | None = None
    """EKS node auto-repair."""
    availability_zones: list[str] | None = None
    """Restrict the pool to these AZs (a subset of the network's); unset means all."""
    karpenter: KarpenterPoolSpec | None = None
    """How Karpenter provisions this GPU pool (``nodeProvisioner: karpenter`` only)."""


@dataclass(frozen=True)
class KarpenterPool:
    """A GPU pool's Karpenter settings with defaults applied (see :class:`KarpenterPoolSpec`)."""

    instance_families: tuple[str, ...]
    instance_sizes: tuple[str, ...]
    capacity_types: tuple[str, ...]
    consolidation_policy: str
    consolidate_after: str
    expire_after: str
    budget_nodes: str
    image_pull: str
    image_cache_snapshot_id: str | None


@dataclass(frozen=True)
class NodePool:
    """A node pool with its defaults applied and its GPU facts derived."""

    name: str
    instance_types: tuple[str, ...]
    ami_type: str
    capacity_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    max_unavailable: int
    labels: Mapping[str, str]
    auto_repair: bool
    availability_zones: tuple[str, ...]
    gpu_model: str | None
    """GPU model (``a10g``) for GPU pools, None for CPU pools."""
    gpus_per_node: int
    """GPUs per node (0 for CPU pools)."""
    karpenter: KarpenterPool | None = None
    """Karpenter settings of a GPU pool when the stack's ``nodeProvisioner`` is ``karpenter``."""

    @property
    def gpu(self) -> bool:
        """Whether the pool runs NVIDIA GPU instances."""
        return self.gpus_per_node > 0


# --------------------------------------------------------------------------- GPU stack + monitoring
class GpuConfig(_Model):
    """The in-cluster GPU software stack."""

    stack: Literal["device-plugin", "gpu-operator"] = "device-plugin"
    """``device-plugin``: NVIDIA k8s-device-plugin (the EKS NVIDIA AMIs ship the driver); ``gpu-operator``: driver and toolkit off."""
    time_slicing_replicas: int | None = Field(default=None, ge=2, le=48)
    """Share each GPU among this many pods (time-slicing); unset disables sharing."""
    mig_strategy: Literal["none", "single", "mixed"] = "none"
    """MIG strategy advertised by the device plugin."""
    mig_manager: bool = False
    """Run the GPU operator's MIG manager (gpu-operator stack only)."""
    dcgm_memory_limit_mib: int = Field(default=1024, ge=512, le=16384)
    """DCGM exporter memory limit; 512Mi OOMs on 8-GPU nodes (pytorch/ci-infra#1011)."""


class AlertingConfig(_Model):
    """Alertmanager receivers. Their credentials are secret config keys."""

    slack_channel: str | None = None
    """Slack channel for alerts; needs the ``alertmanagerSlackWebhookUrl`` secret."""
    pagerduty: bool = False
    """Page critical alerts through PagerDuty; needs the ``alertmanagerPagerdutyRoutingKey`` secret."""


class MonitoringConfig(_Model):
    """kube-prometheus-stack, Grafana dashboards and alert rules."""

    prometheus_storage_gib: int = Field(default=100, ge=10, le=16384)
    """Size of Prometheus' encrypted gp3 volume."""
    prometheus_retention: str = "15d"
    """Time retention (Prometheus duration, e.g. ``15d``)."""
    prometheus_retention_size_gib: int | None = Field(default=None, ge=1)
    """Size retention; defaults to 80% of the volume so the WAL cannot fill it."""
    prometheus_replicas: int = Field(default=1, ge=1, le=3)
    """Prometheus replicas."""
    grafana_storage_gib: int = Field(default=10, ge=1, le=1024)
    """Size of Grafana's volume."""
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    """Alertmanager receivers."""

    @field_validator("prometheus_retention")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not _DURATION.match(v):
            raise ValueError("a Prometheus duration such as 12h, 15d or 2w")
        return v

    @property
    def retention_size_gib(self) -> int:
        """The effective size retention."""
        return self.prometheus_retention_size_gib or max(1, self.prometheus_storage_gib * 8 // 10)


# --------------------------------------------------------------------------- serving
class ImageRef(_Model):
    """An image in the platform's registry, pinned by digest or immutable tag."""

    repository: str
    """A key of ``registry.repositories``."""
    tag: str | None = None
    """Immutable tag (never ``latest``)."""
    digest: str | None = None
    """``sha256:…`` digest; wins over the tag."""

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        return _check_tag(v)

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        return _check_digest(v)


def _check_tag(v: str | None) -> str | None:
    if v is not None and (v == "latest" or not _TAG.match(v)):
        raise ValueError("an immutable tag (not 'latest'): letters, digits, _ . -")
    return v


def _check_digest(v: str | None) -> str | None:
    if v is not None and not _DIGEST.match(v):
        raise ValueError("a digest of the form sha256:<64 hex>")
    return v


class ModelSource(_Model):
    """Where the model weights come from: an S3 prefix in the artifact bucket, or a PVC cache."""

    s3_prefix: str | None = None
    """Key prefix in the artifact bucket (e.g. ``models/llama-3-8b/``), read by a per-model IRSA role."""
    pvc_size_gib: int | None = Field(default=None, ge=1, le=65536)
    """Size of a PVC model cache (gp3), instead of S3."""


class WeightsSpec(_Model):
    """How a model's weights reach the GPU."""

    load: Literal["copy", "stream"] | None = None
    """``stream``: the server reads ``s3://`` directly (vLLM ``--load-format runai_streamer``) with the model's
    IRSA role, no init container; ``copy``: an init container copies the weights into an emptyDir first
    (servers that cannot stream). Default ``stream`` for vLLM models with an S3 source, else ``copy``."""


class Autoscaling(_Model):
    """How a model scales."""

    type: Literal["cpu", "keda"] = "cpu"
    """``cpu``: HorizontalPodAutoscaler on CPU; ``keda``: KEDA on a Prometheus query."""
    target_cpu_percent: int = Field(default=70, ge=10, le=100)
    """CPU target for ``cpu``."""
    query: str | None = None
    """PromQL for ``keda`` (e.g. queue depth) per replica track: ``$model`` becomes the model key and ``$track``
    ``primary`` or ``canary``, so each track scales on its own series (docs/metrics-contract.md)."""
    threshold: float = Field(default=5.0, gt=0)
    """Per-replica target for the ``keda`` query."""


class Canary(_Model):
    """A second version of a model that receives a share of the traffic (A/B test)."""

    image: ImageRef
    """The canary's image."""
    weight: int = Field(ge=1, le=99)
    """Percent of traffic for the canary; the primary gets the rest."""
    version: str | None = None
    """The canary's model version for its lineage annotation; unset means the primary's ``lineage.version``."""


_LINEAGE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,127}$")


class Lineage(_Model):
    """Where a served model comes from, recorded as ``platform.ai/*`` annotations on its Deployment and pods."""

    version: str
    """Model version (a registry version such as ``3`` or a release name such as ``2026-03-01``)."""
    weights_s3_version_id: str | None = None
    """S3 version id of the weights' manifest/main object in the artifact bucket (versioned bucket)."""
    dvc_hash: str | None = None
    """DVC hash (``md5`` of the ``.dvc`` entry) of the weights, when they are tracked with DVC."""
    mlflow_run_id: str | None = None
    """MLflow run that trained or registered the model (32 hex characters)."""

    @field_validator("version", "weights_s3_version_id")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not _LINEAGE_TEXT.match(v):
            raise ValueError("1-128 letters, digits and . _ : + / - (an annotation value, no spaces)")
        return v

    @field_validator("dvc_hash")
    @classmethod
    def _dvc(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-f0-9]{32}(\.dir)?", v):
            raise ValueError("a DVC md5 hash: 32 lowercase hex characters, optionally followed by .dir")
        return v

    @field_validator("mlflow_run_id")
    @classmethod
    def _run(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-f0-9]{32}", v):
            raise ValueError("an MLflow run id: 32 lowercase hex characters")
        return v


_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")


def _check_prefix(v: str) -> str:
    if not v or v.startswith("/") or "*" in v or "://" in v:
        raise ValueError("a key prefix in the artifact bucket, without s3://, a leading '/' or wildcards")
    return v.strip("/") + "/"


class DriftSpec(_Model):
    """Drift evaluation of one model: its live inputs (``current``) against its reference data."""

    reference: str
    """Key prefix in the artifact bucket of the reference data (CSV or Parquet), e.g. ``drift/llama/reference/``."""
    current: str
    """Key prefix of the live inputs, written by the serving application or a request-logging sidecar
    (docs/metrics-contract.md)."""
    schedule: str = "0 * * * *"
    """Cron schedule of the drift CronJob (UTC). At least daily, or ModelDriftNotEvaluated fires."""

    @field_validator("reference", "current")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _check_prefix(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if not _CRON.match(v.strip()) or v.strip() in ("@weekly", "@monthly"):
            raise ValueError("a five-field cron expression (or @hourly/@daily); the job must run at least daily")
        return v.strip()


class ModelSpec(_Model):
    """A served model. In ``serving.models`` unset fields fall back to ``serving.modelDefaults``."""

    image: ImageRef | None = None
    """Serving image from the platform's registry."""
    args: list[str] | None = None
    """Container arguments."""
    port: int | None = Field(default=None, ge=1024, le=65535)
    """Container port (non-root, so 1024 or above)."""
    gpus: int | None = Field(default=None, ge=0, le=8)
    """``nvidia.com/gpu`` per replica."""
    cpu: str | None = None
    """CPU per replica (requests equal limits)."""
    memory: str | None = None
    """Memory per replica (requests equal limits)."""
    min_replicas: int | None = Field(default=None, ge=0, le=100)
    """Minimum replicas; 0 only with KEDA and ``serving.allowScaleToZero``."""
    max_replicas: int | None = Field(default=None, ge=1, le=100)
    """Maximum replicas."""
    shm_size: str | None = None
    """Size of ``/dev/shm`` (memory-backed emptyDir)."""
    source: ModelSource | None = None
    """Model weights source."""
    weights: WeightsSpec | None = None
    """How the weights are loaded (``weights.load: copy | stream``)."""
    warm_spares: int | None = Field(default=None, ge=0, le=8)
    """Model-sized placeholder pods (lowest priority, the serving image, asleep) that keep this many GPU
    nodes up with the image pulled: a new replica preempts one and starts at once, and Karpenter or the
    autoscaler replaces the spare in the background. Each costs a GPU node. Default 0."""
    env: dict[str, str] | None = None
    """Plain environment variables (never secrets)."""
    startup_budget_seconds: int | None = Field(default=None, ge=60, le=7200)
    """How long the startup probe waits for the model to load. Unset: follows the model's cold-start
    estimate (3 x the estimated weights load and server start, at least 240 s; docs/adr/0012)."""
    image_size_gib: float | None = Field(default=None, gt=0, le=500, alias="imageSizeGiB")
    """Compressed size of the serving image in the registry, GiB (the cold-start estimate's image pull)."""
    metrics_path: str | None = None
    """HTTP path of the Prometheus metrics on the model port (default ``/metrics``, as vLLM serves them)."""
    server: Literal["vllm", "tgi", "triton", "custom"] | None = None
    """The model server. ``vllm`` has a built-in metric contract and is started with
    ``--served-model-name <model key>``; any other server declares its own ``metrics``
    (docs/metrics-contract.md). Default ``custom``."""
    metrics: dict[str, list[str]] | None = None
    """Metric contract of a non-vLLM server: metric name -> the label names it carries as the server
    emits it. Autoscaling queries and alerts are checked against it."""
    autoscaling: Autoscaling | None = None
    """Autoscaling signal."""
    canary: Canary | None = None
    """Optional A/B canary."""
    weights_size_gib: float | None = Field(default=None, gt=0, le=4096, alias="weightsSizeGiB")
    """Size of the model weights in GiB (required with ``source.s3Prefix``): sizes the ``models``
    emptyDir's ``sizeLimit`` and the pod's ephemeral-storage request, so weights never fill the node disk,
    and the cold-start estimate's weights copy and load."""
    deploy: bool | None = None
    """Deploy the model's workloads (default true). Set false until its image and weights exist
    (first ``up`` of an environment or a new model): everything else (namespace, IRSA role) is created,
    the Deployment, Service, PDB, autoscaler, ServiceMonitor and Ingress path are not."""
    rollout: Literal["surge", "replace"] | None = None
    """``replace`` (maxSurge 0, maxUnavailable 1: no spare GPU needed; default for GPU models) or
    ``surge`` (maxSurge 1, maxUnavailable 0: needs room for one more pod; default for CPU models)."""
    drift: DriftSpec | None = None
    """Drift evaluation (a CronJob per model pushing ``model_drift_score``); unset: not evaluated."""
    lineage: Lineage | None = None
    """Model version, weights version and training run, recorded on the Deployment (required in staging and prod)."""

    @field_validator("cpu", "memory", "shm_size")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


# A resolved model is the serving component's own settings type (components/model_spec.py); the
# alias keeps ``infra.config.Model`` importable for code written before the move.
Model = ModelSettings


class IngressConfig(_Model):
    """The serving ALB."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    """Internal by default; internet-facing needs ``certificateArn``."""
    certificate_arn: str | None = None
    """ACM certificate ARN for HTTPS."""
    inbound_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach the ALB; empty means the VPC CIDR (internal) only. An internet-facing ALB needs an explicit list."""
    group_name: str = "serving"
    """ALB IngressGroup name (``alb.ingress.kubernetes.io/group.name``): Ingresses in one group share one ALB."""

    @field_validator("inbound_cidrs")
    @classmethod
    def _inbound(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR") from None
        return v

    @field_validator("group_name")
    @classmethod
    def _group(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", v):
            raise ValueError("lowercase letters, digits, '-' and '.', at most 63 characters")
        return v


class CachedImage(_Model):
    """A public image pulled through the registry's pull-through cache, pinned by tag and digest.

    The image reference becomes ``<account>.dkr.ecr.<region>.amazonaws.com/<upstream>/<repository>:<tag>@<digest>``.
    """

    upstream: str = "ecr-public"
    """Pull-through cache prefix (a key of ``registry.pullThroughCache``)."""
    repository: str
    """Repository path in the upstream registry, e.g. ``aws-cli/aws-cli``."""
    tag: str
    """The upstream tag (documentation; the digest is what is pulled)."""
    digest: str
    """``sha256:…`` digest of the tag (``crane digest public.ecr.aws/<repository>:<tag>``)."""

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        return _check_tag(v) or v

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _check_digest(v) or v

    def reference(self, account_id: str, region: str) -> str:
        """The full image reference through this account's pull-through cache."""
        return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{self.upstream}/{self.repository}:{self.tag}@{self.digest}"


class ServingConfig(_Model):
    """Model serving: namespace, ingress and models."""

    namespace: str = "serving"
    """Namespace of the served models."""
    allow_scale_to_zero: bool = False
    """Allow models with ``minReplicas: 0`` (KEDA)."""
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    """The ALB in front of the models."""
    model_defaults: ModelSpec = Field(default_factory=ModelSpec)
    """Shared model defaults."""
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    """Models keyed by name (a DNS label)."""
    model_sync_image: CachedImage | None = None
    """AWS CLI image of the init container that copies weights from S3; required when a model has ``source.s3Prefix``."""


# --------------------------------------------------------------------------- CI runners + images
class RunnerScaleSetSpec(_Model):
    """One GitHub Actions runner scale set; unset fields fall back to ``ciRunners.scaleSetDefaults``."""

    min_runners: int | None = Field(default=None, ge=0, le=100)
    """Idle runners kept warm."""
    max_runners: int | None = Field(default=None, ge=1, le=500)
    """Maximum concurrent runners."""
    gpus: int | None = Field(default=None, ge=0, le=8)
    """GPUs per runner; >0 places it on GPU pools with the taint tolerated."""
    cpu: str | None = None
    """CPU per runner."""
    memory: str | None = None
    """Memory per runner."""
    container_mode: Literal["kubernetes", "dind"] | None = None
    """``kubernetes`` (default, job containers as pods) or ``dind`` (privileged; avoid)."""
    node_pool: str | None = None
    """Run the runners on this node pool only; unset means any CPU pool (GPU runners: any GPU pool)."""
    work_volume_gib: int | None = Field(default=None, ge=1, le=1024)
    """Ephemeral storage of a runner (its ``_work`` directory lives in the container in kubernetes mode)."""
    job_cpu: str | None = None
    """CPU of each job pod the container hooks create (requests equal limits; default 4). Without it the
    job namespace's LimitRange default (500m) would cap every build."""
    job_memory: str | None = None
    """Memory of each job pod (requests equal limits; default 8Gi)."""
    job_ephemeral_storage_gib: int | None = Field(default=None, ge=1, le=1024)
    """Ephemeral storage of each job pod: checkout, caches and build outputs (default 50)."""

    @field_validator("cpu", "memory", "job_cpu", "job_memory")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


class CiJobProfile(_Model):
    """The pod of one kind of CI job (requests equal limits: a build is never throttled below what it asked)."""

    cpu: str = "4"
    """CPU of the job container. The job namespaces' LimitRange default is this value too."""
    memory: str = "8Gi"
    """Memory of the job container."""
    ephemeral_storage_gib: int = Field(default=50, ge=1, le=1024)
    """Checkout, caches and build outputs on the node disk."""
    gpus: int = Field(default=0, ge=0, le=8)
    """``nvidia.com/gpu`` of the job container; >0 places the pod on GPU pools with the taint tolerated."""
    node_pool: str | None = None
    """Run these jobs on this node pool only; unset: any CPU pool (GPU profiles: any GPU pool)."""
    restricted: bool = False
    """Run the job as uid 1000 with the restricted security context. Only for job images that work
    without root (many build images install packages as root); the job namespaces enforce ``baseline``."""

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


def _gpu_profile() -> CiJobProfile:
    return CiJobProfile(cpu="8", memory="32Gi", ephemeral_storage_gib=100, gpus=1)


class GitlabRunnerConfig(_Model):
    """GitLab Runner (Kubernetes executor): one registration for CPU jobs, one tagged ``gpu`` for GPU jobs."""

    enabled: bool = False
    """Install the runners (the ``gitlabRunnerToken`` secret, and ``gitlabGpuRunnerToken`` with a GPU profile)."""
    namespace: str = "gitlab-runner"
    """Namespace of the runner managers and their token Secrets."""
    job_namespace: str = "gitlab-jobs"
    """Namespace of the job pods; the runners' Role is bound there only, so jobs cannot read the tokens."""
    gitlab_url: str = "https://gitlab.com/"
    """The GitLab instance the runners were created in."""
    concurrent: int = Field(default=10, ge=1, le=500)
    """Most CPU jobs at once (``concurrent``); each is one job pod."""
    gpu_concurrent: int = Field(default=1, ge=0, le=64)
    """Most GPU jobs at once; 0: no GPU runner."""
    check_interval_seconds: int = Field(default=3, ge=1, le=600)
    """How often an idle runner asks GitLab for jobs (``checkInterval``)."""
    job_image: str = "public.ecr.aws/docker/library/ubuntu:24.04"
    """Image of jobs that name none."""
    push_to_registry: bool = False
    """Give the job pods an IRSA role that pushes to this stack's registry (as ``ciRunners.pushToRegistry``)."""
    cpu_job: CiJobProfile = Field(default_factory=CiJobProfile)
    """CPU job pods."""
    gpu_job: CiJobProfile = Field(default_factory=_gpu_profile)
    """GPU job pods (jobs tagged ``gpu``)."""


class JenkinsConfig(_Model):
    """Jenkins controller (Kubernetes plugin, Configuration as Code) with agents in their own namespace."""

    enabled: bool = False
    """Install Jenkins (needs the ``jenkinsAdminPassword`` secret)."""
    namespace: str = "jenkins"
    """Namespace of the controller and its admin Secret."""
    agent_namespace: str = "jenkins-agents"
    """Namespace of the agent pods."""
    home_size_gib: int = Field(default=50, ge=8, le=4096)
    """Size of the controller's ``JENKINS_HOME`` volume (protected and retained with ``protectStatefulResources``)."""
    controller_cpu: str = "1"
    """CPU request of the controller (limit: 4x)."""
    controller_memory: str = "4Gi"
    """Memory of the controller (request and limit)."""
    max_agents: int = Field(default=10, ge=1, le=500)
    """Most agent pods at once per template (``containerCap``)."""
    agent_idle_minutes: int = Field(default=0, ge=0, le=1440)
    """Minutes an idle agent pod is kept for the next build (0: one pod per build)."""
    agent_image: str = "jenkins/inbound-agent:3355.v388858a_47b_33-3-jdk21"
    """The ``jnlp`` container that connects the agent to the controller."""
    build_image: str = "public.ecr.aws/docker/library/ubuntu:24.04"
    """Image of the ``build`` container of the agent pod templates."""
    push_to_registry: bool = False
    """Give the agents an IRSA role that pushes to this stack's registry."""
    cpu_job: CiJobProfile = Field(default_factory=CiJobProfile)
    """The ``cpu-build`` pod template (label ``cpu``)."""
    gpu_job: CiJobProfile = Field(default_factory=_gpu_profile)
    """The ``gpu-job`` pod template (label ``gpu``); gpus 0: no GPU template."""

    @field_validator("controller_cpu", "controller_memory")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


class CircleciConfig(_Model):
    """CircleCI container agent with a CPU and a GPU resource class."""

    enabled: bool = False
    """Install the agent (needs ``circleciCpuResourceClassToken``, and ``circleciGpuResourceClassToken`` with a GPU class)."""
    namespace: str = "circleci"
    """Namespace of the agent, its token Secret and the task pods."""
    cpu_resource_class: str = "example-org/cpu"
    """``<namespace>/<name>`` of the CPU resource class (created with the CircleCI CLI)."""
    gpu_resource_class: str | None = "example-org/gpu"
    """``<namespace>/<name>`` of the GPU resource class; None: no GPU class."""
    max_concurrent_tasks: int = Field(default=20, ge=1, le=500)
    """Most task pods at once (``agent.maxConcurrentTasks``)."""
    push_to_registry: bool = False
    """Give the task pods an IRSA role that pushes to this stack's registry."""
    cpu_job: CiJobProfile = Field(default_factory=CiJobProfile)
    """Task pods of the CPU resource class."""
    gpu_job: CiJobProfile = Field(default_factory=_gpu_profile)
    """Task pods of the GPU resource class."""


class CiRunnersConfig(_Model):
    """GitHub Actions Runner Controller and its scale sets."""

    enabled: bool = False
    """Install ARC and its runners in this stack's cluster. Off by default: only the stacks that run CI
    say so (none in prod: images reach prod through ``blueprint promote``)."""
    namespace: str = "arc-runners"
    """Namespace of the runner pods (and of the GitHub App secret, which ARC reads from there)."""
    job_namespace: str = "arc-jobs"
    """Namespace of the job pods the container hooks create. The runners' Role lives here only, so
    neither runners nor job pods can read the GitHub App key in ``namespace``."""
    push_to_registry: bool = False
    """Give the runners an IRSA role that pushes to this stack's registry. Only the environment that
    builds images sets it; the others receive images through ``blueprint promote`` (scan gate)."""
    runner_group: str | None = None
    """GitHub runner group the scale sets join (ARC ``runnerGroup``): limits which repositories may use them."""
    github_config_url: str = "https://github.com/example-org"
    """The GitHub organisation or repository the runners register with."""
    github_app_id: str = ""
    """GitHub App ID (its private key is the ``githubAppPrivateKey`` secret)."""
    github_app_installation_id: str = ""
    """GitHub App installation ID."""
    scale_set_defaults: RunnerScaleSetSpec = Field(default_factory=RunnerScaleSetSpec)
    """Shared scale-set defaults."""
    scale_sets: dict[str, RunnerScaleSetSpec] = Field(default_factory=dict)
    """Scale sets keyed by name (the ``runs-on`` label)."""
    gitlab: GitlabRunnerConfig = Field(default_factory=GitlabRunnerConfig)
    """GitLab Runner beside (or instead of) ARC; ``enabled`` above is ARC's alone."""
    jenkins: JenkinsConfig = Field(default_factory=JenkinsConfig)
    """Jenkins with Kubernetes agents."""
    circleci: CircleciConfig = Field(default_factory=CircleciConfig)
    """CircleCI container agent."""


class ImagesConfig(_Model):
    """Images the platform builds (pulumi-docker) or takes by digest."""

    build: bool = False
    """Build images from ``images/<name>/`` and push them (needs a Docker daemon even to preview)."""
    runner_image: ImageRef | None = None
    """The CI runner image to use when ``build`` is off."""
    runner_repository: str = "ci-runner"
    """Registry repository the built CI runner image is pushed to (``build`` on)."""
    model_server_repository: str | None = None
    """Also build ``images/model-server/`` into this repository (``build`` on); unset skips it."""


# --------------------------------------------------------------------------- delivery
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_GIT_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


_CODECONNECTIONS_ARN = re.compile(
    r"^arn:aws(-[a-z]+)?:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
# Compute types of CodeBuild's container fleet that run the GitHub Actions runner
# (https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html).
CODEBUILD_COMPUTE_TYPES: tuple[str, ...] = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)


class DeployRunnerConfig(_Model):
    """The in-VPC GitHub Actions runner (CodeBuild) that reaches the cluster's private API endpoint (ADR 0008)."""

    enabled: bool = True
    """Create the runner. Without it, only a cluster whose public endpoint admits 0.0.0.0/0 is reachable from CI."""
    connection_arn: str | None = None
    """ARN of an AWS CodeConnections connection to GitHub, created and authorised once in the console (the GitHub
    App handshake cannot be automated). CodeBuild uses it to register the repository webhook and the runner."""
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    """CodeBuild compute type (MEDIUM: 4 vCPU, 7 GiB; enough for ``pulumi up`` with the policy pack)."""
    image: str = "aws/codebuild/standard:7.0"
    """Managed build image: Ubuntu 22.04 with the AWS CLI v2 (``aws eks get-token``), where actions/setup-python's
    Ubuntu builds work."""
    build_timeout_minutes: int = Field(default=180, ge=30, le=480)
    """CodeBuild's limit for one job; longer than the longest workflow job timeout (deploy: 120 minutes)."""
    workflows: list[str] = Field(default_factory=lambda: ["deploy", "preview", "drift"])
    """Names of the workflows whose queued jobs may start this runner (webhook ``WORKFLOW_NAME`` filter)."""

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, v: str | None) -> str | None:
        if v is not None and not _CODECONNECTIONS_ARN.match(v):
            raise ValueError(
                "a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>)"
            )
        return v

    @field_validator("compute_type")
    @classmethod
    def _compute(cls, v: str) -> str:
        if v not in CODEBUILD_COMPUTE_TYPES:
            raise ValueError(f"one of {list(CODEBUILD_COMPUTE_TYPES)}")
        return v

    @field_validator("workflows")
    @classmethod
    def _workflows(cls, v: list[str]) -> list[str]:
        if not v or any(not re.fullmatch(r"[A-Za-z0-9 ._-]{1,100}", w) for w in v):
            raise ValueError("one or more workflow names (the `name:` of .github/workflows/*.yml)")
        return v


class DeliveryConfig(_Model):
    """GitHub Actions delivery: the OIDC provider and the roles the workflows assume (no long-lived keys)."""

    enabled: bool = True
    """Create the GitHub OIDC deploy identities (component ``DeployIdentity``)."""
    github_repository: str = "example-org/ai-platform"
    """``owner/repo`` whose workflows may assume the roles. Exact: wildcards are refused."""
    create_oidc_provider: bool = True
    """Create the account-wide GitHub OIDC provider. Set false when something else in the account owns it; the
    program then reads the existing ``token.actions.githubusercontent.com`` provider by ARN."""
    default_branch: str = "main"
    """Branch whose runs (drift detection, preflight) may assume the read-only preview role."""
    state_bucket: str = "example-org-pulumi-state"
    """S3 bucket of the self-managed Pulumi backend (``blueprint bootstrap --bucket``); the roles read it."""
    secrets_kms_alias: str | list[str] = "alias/pulumi-secrets"
    """KMS alias of the ``awskms://`` secrets provider; the roles may use the key behind it. A list while the
    stack moves to another key: grant both, run ``pulumi stack change-secrets-provider``, then drop the old one
    (README, "Move a stack to another secrets key"). The first alias is the one the stack file should name."""
    state_kms_alias: str | None = None
    """KMS alias of the state bucket's SSE-KMS key; unset means ``<first secretsKmsAlias>-state``, the key
    ``blueprint bootstrap`` creates next to the secrets key. Set it explicitly before moving the secrets key."""
    kubernetes_layer: bool = True
    """Deploy the in-cluster components (everything through the cluster's Kubernetes provider). false only for
    the administrator's first ``up`` of a stack, which creates the cloud layer (VPC, cluster, node pools, roles,
    the in-VPC deploy runner) from outside the VPC; the Kubernetes layer then deploys from the runner (ADR 0008)."""
    deploy_runner: DeployRunnerConfig = Field(default_factory=lambda: DeployRunnerConfig())
    """The CodeBuild-hosted GitHub Actions runner inside the VPC that deploy, preview and drift jobs run on."""
    deploy_policy_arns: list[str] = Field(default_factory=lambda: ["arn:aws:iam::aws:policy/PowerUserAccess"])
    """Managed policies of the deploy role. IAM itself is granted separately, only on resources tagged with the
    project (``project=ai-platform``), so the role cannot touch IAM outside the platform. AdministratorAccess and
    IAMFullAccess are refused."""
    max_session_seconds: int = Field(default=7200, ge=3600, le=43200)
    """Longest session of the deploy role: a first ``pulumi up`` (EKS, node pools, charts) can take over an hour."""

    @property
    def secrets_kms_aliases(self) -> list[str]:
        """Every secrets-provider alias the roles are granted (one, or two during a key move)."""
        return [self.secrets_kms_alias] if isinstance(self.secrets_kms_alias, str) else list(self.secrets_kms_alias)

    @property
    def state_key_alias(self) -> str:
        """The effective alias of the state bucket's key."""
        return self.state_kms_alias or f"{self.secrets_kms_aliases[0]}-state"

    @field_validator("github_repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if "*" in v or "?" in v:
            raise ValueError("must name one repository exactly (owner/repo); wildcards would let any repository deploy")
        if not _GITHUB_REPOSITORY.match(v):
            raise ValueError("an owner/repo such as example-org/ai-platform")
        return v

    @field_validator("default_branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        if "*" in v or not _GIT_BRANCH.match(v):
            raise ValueError("one branch name, without wildcards")
        return v

    @field_validator("state_bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not _S3_BUCKET.match(v) or ".." in v:
            raise ValueError("an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)")
        return v

    @field_validator("secrets_kms_alias", "state_kms_alias")
    @classmethod
    def _alias(cls, v: str | list[str] | None) -> str | list[str] | None:
        aliases = [] if v is None else [v] if isinstance(v, str) else v
        if (isinstance(v, list) and not 1 <= len(v) <= 2) or len(set(aliases)) != len(aliases):
            raise ValueError("one alias, or two different aliases while moving the stack to another key")
        bad = [a for a in aliases if not _KMS_ALIAS.match(a) or a.startswith("alias/aws/")]
        if bad:
            raise ValueError(f"{bad}: customer-managed KMS aliases such as alias/pulumi-secrets (not alias/aws/...)")
        return v

    @field_validator("deploy_policy_arns")
    @classmethod
    def _policies(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.endswith((":policy/AdministratorAccess", ":policy/IAMFullAccess"))]
        if bad:
            raise ValueError(f"{bad} grant unrestricted IAM; IAM is granted on project-tagged resources only")
        malformed = [a for a in v if not re.match(r"^arn:aws(-[a-z]+)?:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$", a)]
        if malformed:
            raise ValueError(f"not IAM policy ARNs: {malformed}")
        return v


# --------------------------------------------------------------------------- ML lifecycle: drift, MLflow, DVC
class DriftConfig(_Model):
    """Drift evaluation: a Prometheus Pushgateway and a CronJob per model that has a ``drift`` section."""

    namespace: str = "model-drift"
    """Namespace of the Pushgateway and the drift CronJobs."""
    image: ImageRef | None = None
    """The ``images/drift-job`` image in the platform's registry; required when a model has ``drift``."""
    cpu: str = "1"
    """CPU of a drift job (requests equal limits)."""
    memory: str = "2Gi"
    """Memory of a drift job: both samples are loaded whole, so size it to the prefixes."""
    deadline_seconds: int = Field(default=3600, ge=60, le=86400)
    """A run still going after this long is killed (``activeDeadlineSeconds``)."""
    pushgateway_storage_gib: int = Field(default=2, ge=1, le=100)
    """The Pushgateway's encrypted volume: pushed scores survive its restarts (``--persistence.file``)."""

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, v: str | None) -> str | None:
        return _quantity(v)


class MlflowConfig(_Model):
    """The MLflow tracking server and model registry: RDS PostgreSQL backend, artifacts under ``s3://<artifacts>/mlflow/``."""

    enabled: bool = True
    """Deploy MLflow (needs the ``mlflowAdminPassword`` secret)."""
    namespace: str = "mlflow"
    """Namespace of the tracking server."""
    replicas: int = Field(default=1, ge=1, le=10)
    """Server replicas; 2 or more get a PodDisruptionBudget."""
    client_namespaces: list[str] | None = None
    """Namespaces whose pods may call the server (port 5000); everything else is denied. Unset: the CI
    runners' job namespace (``ciRunners.jobNamespace``) where runners are enabled, else none."""
    db_instance_class: str = "db.t4g.medium"
    """RDS instance class of the backend store."""
    db_engine_version: str = "17"
    """PostgreSQL major version; RDS applies minor versions (``autoMinorVersionUpgrade``)."""
    db_storage_gib: int = Field(default=20, ge=20, le=65536)
    """Allocated gp3 storage."""
    db_max_storage_gib: int = Field(default=100, ge=20, le=65536)
    """Storage autoscaling ceiling."""
    db_multi_az: bool = False
    """A standby in a second AZ. Required in prod."""
    db_backup_retention_days: int = Field(default=7, ge=1, le=35)
    """Automated backup retention; prod needs at least 7 days."""
    db_deletion_protection: bool = True
    """RDS deletion protection. Required in prod."""

    @field_validator("db_instance_class")
    @classmethod
    def _class(cls, v: str) -> str:
        if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", v):
            raise ValueError("an RDS instance class such as db.t4g.medium")
        return v

    @field_validator("db_engine_version")
    @classmethod
    def _engine(cls, v: str) -> str:
        if not re.fullmatch(r"1[4-9](\.\d+)?", v):
            raise ValueError("a supported PostgreSQL version: 14 to 19, optionally with a minor (17.6)")
        return v


class DvcConfig(_Model):
    """The artifact bucket's ``dvc/`` prefix as a DVC remote, and the role that may use it."""

    enabled: bool = True
    """Export ``dvcRemote`` and create the DVC role."""
    principal_arns: list[str] = Field(default_factory=list)
    """IAM roles (data scientists' SSO roles) that may assume the DVC role, besides GitHub Actions."""

    @field_validator("principal_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return v


# --------------------------------------------------------------------------- root
class PlatformConfig(_Model):
    """The whole stack configuration."""

    environment: Environment
    """Deployment tier: dev, staging or prod."""
    region: str
    """AWS region."""
    _stack: str | None = PrivateAttr(default=None)

    @property
    def stack(self) -> str:
        """The stack's name: the GitHub Environment and the suffix of per-stack role names. The tier only
        when the config was parsed without a stack file (tests' literal configs)."""
        return self._stack or self.environment.value

    account_id: str
    """The AWS account this stack may deploy to (pulumi-aws ``allowedAccountIds``)."""
    tags: dict[str, str]
    """Tags for every taggable resource; must include owner and cost-center."""
    protect_stateful_resources: bool = True
    """Protect registries, keys, buckets and log groups from deletion (``protect`` + ``retainOnDelete``)."""
    network: NetworkConfig
    """VPC settings."""
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    """ECR settings."""
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    """Artifact bucket settings."""
    cluster: ClusterConfig
    """EKS control plane settings."""
    node_pool_defaults: NodePoolSpec = Field(default_factory=NodePoolSpec)
    """Shared node pool defaults."""
    node_pools: dict[str, NodePoolSpec]
    """Node pools keyed by name; include a CPU ``system`` pool."""
    node_provisioner: Literal["managed-node-groups", "karpenter"] = "managed-node-groups"
    """Who provisions GPU pools: managed node groups scaled by the cluster-autoscaler, or Karpenter
    NodePools (the system pool always stays a managed node group; ADR 0012)."""
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    """GPU software stack."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    """Monitoring settings."""
    serving: ServingConfig = Field(default_factory=ServingConfig)
    """Model serving settings."""
    ci_runners: CiRunnersConfig = Field(default_factory=CiRunnersConfig)
    """CI runner settings."""
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    """Image build settings."""
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    """GitHub Actions deploy identities (OIDC provider, preview role, this environment's deploy role)."""
    drift: DriftConfig = Field(default_factory=DriftConfig)
    """Drift evaluation (Pushgateway, CronJobs)."""
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    """MLflow tracking server and model registry."""
    dvc: DvcConfig = Field(default_factory=DvcConfig)
    """DVC remote on the artifact bucket."""
    audit: AuditConfig = Field(default_factory=AuditConfig)
    """Audit trail: log archive, CloudTrail, S3 access logs (docs/governance.md)."""
    grafana_admin_password: SecretStr | None = None
    """Grafana admin password (secret)."""
    alertmanager_slack_webhook_url: SecretStr | None = None
    """Slack incoming-webhook URL for Alertmanager (secret)."""
    alertmanager_pagerduty_routing_key: SecretStr | None = None
    """PagerDuty Events v2 routing key (secret)."""
    github_app_private_key: SecretStr | None = None
    """GitHub App private key (PEM) for ARC (secret)."""
    mlflow_admin_password: SecretStr | None = None
    """Password of MLflow's ``admin`` user (basic-auth app) (secret)."""
    gitlab_runner_token: SecretStr | None = None
    """Authentication token (``glrt-``) of the GitLab CPU runner (secret)."""
    gitlab_gpu_runner_token: SecretStr | None = None
    """Authentication token of the GitLab runner tagged ``gpu`` (secret)."""
    jenkins_admin_password: SecretStr | None = None
    """Password of the Jenkins ``admin`` user (secret)."""
    circleci_cpu_resource_class_token: SecretStr | None = None
    """Token of the CircleCI CPU resource class (secret)."""
    circleci_gpu_resource_class_token: SecretStr | None = None
    """Token of the CircleCI GPU resource class (secret)."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        problem = input_rules.region_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str) -> str:
        if not re.fullmatch(r"\d{12}", v):
            raise ValueError("a 12-digit AWS account ID, quoted as a string")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [t for t in REQUIRED_TAGS if not v.get(t)]
        if missing:
            raise ValueError(f"required tag(s) missing: {', '.join(missing)}")
        return v  # length, characters and count: input_rules.aws_tag_findings

    # ------------------------------------------------------------------ resolved views
    @property
    def stack_tags(self) -> dict[str, str]:
        """Tags for every taggable resource: the configured ones plus project and environment."""
        return {**self.tags, "project": PROJECT, "environment": self.environment.value, "managed-by": "pulumi"}

    def resolved_node_pools(self) -> dict[str, NodePool]:
        """Node pools with ``nodePoolDefaults`` applied, in config order."""
        return {
            name: _resolve_pool(name, spec, self.node_pool_defaults, self.network, self.node_provisioner == "karpenter")
            for name, spec in self.node_pools.items()
        }

    def system_pool(self) -> NodePool:
        """The first CPU pool that never scales to zero: system add-ons and controllers run there."""
        return next(p for p in self.resolved_node_pools().values() if not p.gpu and p.min_size >= 1)

    def mlflow_client_namespaces(self) -> list[str]:
        """The namespaces admitted to MLflow: ``mlflow.clientNamespaces``, or the CI job namespace where runners run."""
        if self.mlflow.client_namespaces is not None:
            return list(self.mlflow.client_namespaces)
        return [self.ci_runners.job_namespace] if self.ci_runners.enabled else []

    def resolved_models(self) -> dict[str, ModelSettings]:
        """Models with ``serving.modelDefaults`` applied."""
        return {n: _resolve_model(n, m, self.serving.model_defaults) for n, m in self.serving.models.items()}

    def runner_scale_sets(self) -> dict[str, RunnerScaleSet]:
        """The resolved scale sets as :class:`~components.ci_runners.CiRunners` takes them."""
        return {n: RunnerScaleSet(**s.model_dump(exclude_none=True)) for n, s in self.resolved_scale_sets().items()}

    def resolved_scale_sets(self) -> dict[str, RunnerScaleSetSpec]:
        """Runner scale sets with ``ciRunners.scaleSetDefaults`` applied (every field set)."""
        # The platform's defaults live on the component's type (components/ci_runners.py).
        base = RunnerScaleSetSpec(**asdict(RunnerScaleSet()))
        out = {}
        for name, spec in self.ci_runners.scale_sets.items():
            merged = _merge(_merge(base, self.ci_runners.scale_set_defaults), spec)
            out[name] = merged
        return out


def _merge(base: _Model, over: _Model) -> Any:
    values = {k: v for k, v in over if v is not None}
    return base.model_copy(update=values)


def _check_retention(v: int) -> int:
    if v not in LOG_RETENTION_DAYS:
        raise ValueError(f"a CloudWatch retention value: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return v


def _is_gpu_family(instance_type: str) -> bool:
    return instance_type.split(".")[0].rstrip("dn").startswith(("g", "p")) and not instance_type.startswith("g5g")


def _resolve_pool(
    name: str, spec: NodePoolSpec, d: NodePoolSpec, net: NetworkConfig, karpenter: bool = False
) -> NodePool:
    def pick(attr: str, fallback: Any) -> Any:
        v = getattr(spec, attr)
        if v is None:
            v = getattr(d, attr)
        return fallback if v is None else v

    types = tuple(pick("instance_types", ["m6i.large"]))
    facts = [gpu_facts(t) for t in types]
    gpu = facts[0] if facts and facts[0] else None
    min_size = pick("min_size", 0 if gpu else 1)
    max_size = pick("max_size", max(min_size, 3))
    default_disk = 200 if gpu else 50
    disk = spec.disk_size_gib or (max(d.disk_size_gib or 0, default_disk) if gpu else d.disk_size_gib or default_disk)
    labels = {**(d.labels or {}), **(spec.labels or {})}
    return NodePool(
        name=name,
        instance_types=types,
        ami_type=pick("ami_type", "AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD"),
        capacity_type=pick("capacity_type", "ON_DEMAND"),
        min_size=min_size,
        desired_size=pick("desired_size", min_size),
        max_size=max_size,
        disk_size_gib=disk,
        max_unavailable=pick("max_unavailable", 1),
        labels=labels,
        auto_repair=pick("auto_repair", True),
        availability_zones=tuple(spec.availability_zones or net.availability_zones),
        gpu_model=gpu[0] if gpu else None,
        gpus_per_node=gpu[1] if gpu else 0,
        karpenter=_resolve_karpenter(spec, types, pick("capacity_type", "ON_DEMAND"), pick("ami_type", ""))
        if gpu and karpenter
        else None,
    )


def _resolve_karpenter(spec: NodePoolSpec, types: tuple[str, ...], capacity: str, ami: str) -> KarpenterPool:
    k = spec.karpenter or KarpenterPoolSpec()
    bottlerocket = ami.startswith("BOTTLEROCKET")
    pull = k.image_pull or ("snapshot" if k.image_cache_snapshot_id else "standard" if bottlerocket else "soci")
    return KarpenterPool(
        instance_families=tuple(k.instance_families or dict.fromkeys(t.split(".")[0] for t in types)),
        instance_sizes=tuple(k.instance_sizes or dict.fromkeys(t.split(".")[1] for t in types)),
        capacity_types=tuple(k.capacity_types or [capacity.lower().replace("_", "-")]),
        consolidation_policy=k.consolidation_policy,
        consolidate_after=k.consolidate_after,
        expire_after=k.expire_after,
        budget_nodes=k.budget_nodes,
        image_pull=pull,
        image_cache_snapshot_id=k.image_cache_snapshot_id,
    )


def _resolve_model(name: str, spec: ModelSpec, d: ModelSpec) -> ModelSettings:
    def pick(attr: str, fallback: Any) -> Any:
        v = getattr(spec, attr)
        if v is None:
            v = getattr(d, attr)
        return fallback if v is None else v

    src, scale, canary, lin = (
        pick("source", ModelSource()),
        pick("autoscaling", Autoscaling()),
        spec.canary,
        spec.lineage,
    )
    return ModelSettings(
        name=name,
        image=_model_image(pick("image", None)),
        args=tuple(pick("args", [])),
        port=pick("port", 8000),
        gpus=pick("gpus", 1),
        cpu=pick("cpu", "4"),
        memory=pick("memory", "16Gi"),
        min_replicas=pick("min_replicas", 1),
        max_replicas=pick("max_replicas", 2),
        shm_size=pick("shm_size", "2Gi"),
        source=WeightsSource(src.s3_prefix, src.pvc_size_gib),
        env={**(d.env or {}), **(spec.env or {})},
        startup_budget_seconds=pick("startup_budget_seconds", None),
        autoscaling=ModelAutoscaling(scale.type, scale.target_cpu_percent, scale.query, scale.threshold),
        canary=CanarySettings(_model_image(canary.image), canary.weight, canary.version) if canary else None,
        metrics_path=pick("metrics_path", "/metrics"),
        server=pick("server", "custom"),
        metrics={k: tuple(v) for k, v in (pick("metrics", None) or {}).items()},
        image_size_gib=pick("image_size_gib", None),
        weights_size_gib=pick("weights_size_gib", None),
        deploy=pick("deploy", True),
        rollout=pick("rollout", "replace" if pick("gpus", 1) else "surge"),
        lineage=LineageSettings(lin.version, lin.weights_s3_version_id, lin.dvc_hash, lin.mlflow_run_id)
        if lin
        else None,
        warm_spares=pick("warm_spares", 0),
        weights_load=_weights_load(pick("weights", None), pick("server", "custom"), pick("source", ModelSource())),
    )


def _model_image(ref: ImageRef | None) -> Any:
    """The serving component's image type; a missing image stays None for validation to report."""
    return None if ref is None else ModelImage(ref.repository, ref.tag, ref.digest)


def _weights_load(weights: WeightsSpec | None, server: str, source: ModelSource) -> Literal["copy", "stream"]:
    if weights is not None and weights.load is not None:
        return weights.load
    return "stream" if server == "vllm" and source.s3_prefix else "copy"


def _served_name_problems(name: str, model: ModelSettings, base: str) -> list[Problem]:
    """vLLM labels its metrics ``model_name=<served name>``; the platform sets it to the model key."""
    out: list[Problem] = []
    served = served_model_name(model)
    if model.server == "vllm":
        if served is not None and served != name:
            out.append(
                _p(
                    f"{base}.args",
                    f"--served-model-name must be the model key {name!r} (the platform sets it; "
                    "queries and dashboards select model_name by the key); drop the flag",
                    served,
                )
            )
        if model.metrics:
            out.append(_p(f"{base}.metrics", "vLLM's metric contract is built in; remove metrics"))
    elif model.autoscaling.type == "keda" and not model.metrics:
        out.append(
            _p(
                f"{base}.metrics",
                f"a {model.server} server scaled by KEDA must declare the metrics it emits "
                "(metric name -> labels), so its query can be checked",
            )
        )
    return out


def _karpenter_problems(cfg: PlatformConfig) -> list[Problem]:
    """Karpenter pool settings that cannot work: on a CPU pool, without Karpenter, or mixing GPU counts."""
    out: list[Problem] = []
    for name, pool in cfg.resolved_node_pools().items():
        spec, path = cfg.node_pools[name].karpenter, f"nodePools.{name}.karpenter"
        if spec is not None and (cfg.node_provisioner != "karpenter" or not pool.gpu):
            why = "a CPU pool stays a managed node group" if pool.gpu is False else "nodeProvisioner is not karpenter"
            out.append(_p(path, f"Karpenter settings have no effect: {why}"))
            continue
        k = pool.karpenter
        if k is None:
            continue
        bottlerocket = pool.ami_type.startswith("BOTTLEROCKET")
        if k.image_pull == "soci" and bottlerocket:
            out.append(_p(f"{path}.imagePull", "soci parallel pull is configured through AL2023's nodeadm; "
                          "Bottlerocket pools use snapshot or standard", k.image_pull))  # fmt: skip
        if k.image_pull == "snapshot" and (not bottlerocket or not k.image_cache_snapshot_id):
            out.append(_p(f"{path}.imagePull", "snapshot needs a Bottlerocket amiType and imageCacheSnapshotId"))
        unknown = [f for f in k.instance_families if f not in GPU_FAMILIES]
        if unknown:
            out.append(
                _p(f"{path}.instanceFamilies", f"not an NVIDIA family; allowed: {sorted(GPU_FAMILIES)}", unknown)
            )
            continue
        counts = {GPU_FAMILIES[f].gpus_by_size.get(z) for f in k.instance_families for z in k.instance_sizes} - {None}
        if counts != {pool.gpus_per_node}:
            out.append(_p(f"{path}.instanceSizes", f"every family x size must have {pool.gpus_per_node} GPU(s) "
                          f"like instanceTypes; these give {sorted(c or 0 for c in counts)}", list(k.instance_sizes)))  # fmt: skip
    return out


def _audit_problems(cfg: PlatformConfig) -> list[Problem]:
    """The audit section's cross-field rules (docs/governance.md)."""
    a, out = cfg.audit, []
    if a.trail == "organization" and not a.organization_trail_arn:
        out.append(
            _p("audit.organizationTrailArn", "required with trail: organization (the trail that records this account)")
        )
    if a.trail == "create" and a.organization_trail_arn:
        out.append(_p("audit.organizationTrailArn", "only with trail: organization", a.organization_trail_arn))
    if a.object_lock and a.retention_days < a.object_lock.days:
        out.append(
            _p("audit.retentionDays", f"must be at least objectLock.days ({a.object_lock.days})", a.retention_days)
        )
    if a.cold_after_days >= a.retention_days:
        out.append(_p("audit.coldAfterDays", "must be less than retentionDays", a.cold_after_days))
    if cfg.environment is not Environment.DEV:
        for mname, spec in cfg.serving.models.items():
            if spec.lineage is None:
                out.append(
                    _p(
                        f"serving.models.{mname}.lineage",
                        f"{cfg.environment.value} records model lineage: set at least {{version: ...}} "
                        "(and weightsS3VersionId or dvcHash, mlflowRunId)",
                    )
                )
    if cfg.environment is Environment.PROD:
        if not a.enabled and not a.owned_by:
            out.append(
                _p(
                    "audit.enabled",
                    "prod must keep an audit trail (docs/governance.md); a second stack in the account sets "
                    "audit.ownedBy: <the stack that owns it>",
                    False,
                )
            )
        elif a.object_lock is None:
            out.append(
                _p("audit.objectLock", "prod needs Object Lock on the audit archive: {mode: COMPLIANCE, days: N}")
            )
    return out


# --------------------------------------------------------------------------- cross-field rules
@dataclass(frozen=True)
class Problem:
    """One invalid setting."""

    path: str
    """Key path without the project prefix, e.g. ``nodePools.gpu.maxSize``."""
    message: str
    """What is wrong and what is allowed."""
    value: Any = None
    """The offending value, when there is one (never a secret)."""
    has_value: bool = False
    config_key: bool = True
    """False for problems with the stack file itself (its YAML, its top-level keys)."""


def _p(path: str, message: str, *value: Any) -> Problem:
    return Problem(path, message, value[0] if value else None, bool(value))


def _pool_key(cfg: PlatformConfig, pool: str, key: str) -> str:
    """Where a pool's ``key`` (camelCase) is set: the pool, else ``nodePoolDefaults``, else its built-in default."""
    attr = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
    if getattr(cfg.node_pools[pool], attr, None) is not None:
        return f"nodePools.{pool}.{key}"
    if getattr(cfg.node_pool_defaults, attr, None) is not None:
        return f"nodePoolDefaults.{key}"
    return f"nodePools.{pool}.{key} (default)"


def cross_field_problems(cfg: PlatformConfig) -> list[Problem]:
    """Rules that span several fields or sections. Every rule reports with a precise path."""
    out: list[Problem] = []
    env = cfg.environment
    net = cfg.network

    # network
    for i, az in enumerate(net.availability_zones):
        if not az.startswith(cfg.region):
            out.append(_p(f"network.availabilityZones[{i}]", f"must be an AZ of region {cfg.region}", az))
    if len(set(net.availability_zones)) != len(net.availability_zones):
        out.append(_p("network.availabilityZones", "must not repeat an AZ", net.availability_zones))
    if env is Environment.PROD and len(net.availability_zones) < 2:
        out.append(_p("network.availabilityZones", "prod needs at least 2 availability zones", net.availability_zones))
    if env is Environment.PROD and net.nat_gateways != "per-az":
        out.append(_p("network.natGateways", "prod needs one NAT gateway per AZ ('per-az')", net.nat_gateways))
    vpc = ipaddress.IPv4Network(net.cidr)
    if net.private_subnet_prefix <= vpc.prefixlen:
        out.append(
            _p(
                "network.privateSubnetPrefix",
                f"must be longer than the VPC prefix /{vpc.prefixlen}",
                net.private_subnet_prefix,
            )
        )
    elif 2 ** (net.private_subnet_prefix - vpc.prefixlen) < len(net.availability_zones) + 1:
        out.append(
            _p(
                "network.privateSubnetPrefix",
                f"too short: {len(net.availability_zones)} private subnets plus a public block do not fit in {net.cidr}",
                net.private_subnet_prefix,
            )
        )
    elif net.public_subnet_prefix <= net.private_subnet_prefix or 2 ** (
        net.public_subnet_prefix - net.private_subnet_prefix
    ) < len(net.availability_zones):
        out.append(
            _p(
                "network.publicSubnetPrefix",
                f"must be longer than privateSubnetPrefix and fit {len(net.availability_zones)} subnets in one private-sized block",
                net.public_subnet_prefix,
            )
        )

    out.extend(_audit_problems(cfg))
    out.extend(_karpenter_problems(cfg))
    for mname, served in cfg.resolved_models().items():
        if served.weights_load == "stream" and (served.server != "vllm" or not served.source.s3_prefix):
            out.append(_p(f"serving.models.{mname}.weights.load", "stream needs server: vllm (Run:ai Model Streamer) "
                          "and source.s3Prefix; use copy for other servers", "stream"))  # fmt: skip

    # registry
    if env is not Environment.DEV:
        if cfg.registry.image_tag_mutability != "IMMUTABLE":
            out.append(
                _p(
                    "registry.imageTagMutability",
                    f"{env.value} requires IMMUTABLE tags",
                    cfg.registry.image_tag_mutability,
                )
            )
        for name, repo in cfg.registry.repositories.items():
            if repo.image_tag_mutability == "MUTABLE":
                out.append(
                    _p(
                        f"registry.repositories.{name}.imageTagMutability",
                        f"{env.value} requires IMMUTABLE tags",
                        "MUTABLE",
                    )
                )
    for up, rule in cfg.registry.pull_through_cache.items():
        needs_cred = PULL_THROUGH_UPSTREAMS[up][1]
        if rule.enabled and needs_cred and not rule.credential_arn:
            out.append(
                _p(
                    f"registry.pullThroughCache.{up}.credentialArn",
                    "this upstream needs a Secrets Manager ARN whose name starts with ecr-pullthroughcache/",
                )
            )
        if rule.credential_arn and not re.match(
            r"^arn:aws(-[a-z]+)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/.+", rule.credential_arn
        ):
            out.append(
                _p(
                    f"registry.pullThroughCache.{up}.credentialArn",
                    "a Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/",
                    rule.credential_arn,
                )
            )

    # cluster
    c = cfg.cluster
    if c.endpoint_public_access and not c.public_access_cidrs:
        out.append(_p("cluster.publicAccessCidrs", "a public endpoint needs an explicit CIDR allowlist"))
    if env is Environment.PROD and c.endpoint_public_access:
        out.append(_p("cluster.endpointPublicAccess", "prod allows only the private endpoint", True))
    if c.support_type == "STANDARD" and c.version not in EKS_STANDARD_SUPPORT_VERSIONS:
        out.append(
            _p(
                "cluster.version",
                f"out of EKS standard support; allowed: {', '.join(EKS_STANDARD_SUPPORT_VERSIONS)} "
                "(or cluster.supportType: EXTENDED to stay on it at the extended-support price)",
                c.version,
            )
        )

    # node pools
    if not cfg.node_pools:
        out.append(_p("nodePools", "at least one CPU pool for system add-ons is needed"))
    pools = cfg.resolved_node_pools()
    if pools and all(p.gpu for p in pools.values()):
        out.append(_p("nodePools", "at least one CPU pool for system add-ons (coredns, controllers) is needed"))
    elif pools and not any(not p.gpu and p.min_size >= 1 for p in pools.values()):
        # coredns and the EBS CSI controller are created after the pools and time out without a
        # node; the cluster-autoscaler must not run on a pool it can empty.
        out.append(_p("nodePools", "at least one CPU pool needs minSize >= 1 (system add-ons and the autoscaler)"))
    for name, pool in pools.items():
        base = f"nodePools.{name}"
        # The node group is named "<pool>-" plus a 26-character unique suffix, within EKS's 63.
        if not _K8S_NAME.match(name) or len(name) > 36:
            out.append(_p(base, "pool names are DNS labels of at most 36 characters", name))
        if pool.min_size > pool.max_size:
            # Blame the keys the user set, not desiredSize (it defaults to minSize).
            out.append(
                _p(
                    _pool_key(cfg, name, "minSize"),
                    f"must be <= maxSize ({pool.max_size}, from {_pool_key(cfg, name, 'maxSize')})",
                    pool.min_size,
                )
            )
        elif not pool.min_size <= pool.desired_size <= pool.max_size:
            out.append(
                _p(
                    f"{base}.desiredSize",
                    f"need minSize ({pool.min_size}) <= desiredSize ({pool.desired_size}) <= maxSize ({pool.max_size})",
                    pool.desired_size,
                )
            )
        kinds = {gpu_facts(t) for t in pool.instance_types}
        gpu_types = [t for t in pool.instance_types if gpu_facts(t)]
        unknown_gpu = [t for t in pool.instance_types if not gpu_facts(t) and _is_gpu_family(t)]
        if unknown_gpu:
            families = ", ".join(sorted(GPU_FAMILIES))
            out.append(
                _p(
                    f"{base}.instanceTypes",
                    f"unknown GPU instance type(s) {unknown_gpu}; known families: {families}",
                    list(pool.instance_types),
                )
            )
        elif gpu_types and len(gpu_types) != len(pool.instance_types):
            out.append(
                _p(f"{base}.instanceTypes", "a pool cannot mix GPU and CPU instance types", list(pool.instance_types))
            )
        elif gpu_types and len({k[1] for k in kinds if k}) > 1:
            out.append(
                _p(
                    f"{base}.instanceTypes",
                    "GPU instance types in one pool need the same GPU count (the autoscaler's node template has one)",
                    list(pool.instance_types),
                )
            )
        if pool.gpu and pool.ami_type not in GPU_AMI_TYPES:
            out.append(
                _p(
                    f"{base}.amiType",
                    f"GPU instance types need an accelerated AMI: {', '.join(GPU_AMI_TYPES)}",
                    pool.ami_type,
                )
            )
        if not pool.gpu and pool.ami_type in GPU_AMI_TYPES:
            out.append(
                _p(
                    f"{base}.amiType",
                    f"CPU instance types need a standard AMI: {', '.join(CPU_AMI_TYPES)}",
                    pool.ami_type,
                )
            )
        stray = [z for z in pool.availability_zones if z not in net.availability_zones]
        if stray:
            out.append(
                _p(
                    f"{base}.availabilityZones",
                    f"must be a subset of network.availabilityZones {net.availability_zones}",
                    stray,
                )
            )
        for key in pool.labels:
            if key.startswith(("platform.ai/", "kubernetes.io/", "k8s.io/")) or key.startswith(
                "node-role.kubernetes.io"
            ):
                out.append(
                    _p(f"{base}.labels.{key}", "reserved label prefix (platform.ai/, kubernetes.io/, k8s.io/)", key)
                )

    # GPU stack
    g = cfg.gpu
    if g.mig_manager and g.stack != "gpu-operator":
        out.append(_p("gpu.migManager", "the MIG manager needs gpu.stack: gpu-operator", True))
    if g.time_slicing_replicas and g.mig_strategy != "none":
        out.append(
            _p(
                "gpu.timeSlicingReplicas",
                "time-slicing and MIG cannot be combined; set gpu.migStrategy: none",
                g.time_slicing_replicas,
            )
        )

    # monitoring
    m = cfg.monitoring
    if m.retention_size_gib >= m.prometheus_storage_gib * 0.9:
        out.append(
            _p(
                "monitoring.prometheusRetentionSizeGib",
                f"must stay below 90% of prometheusStorageGib ({m.prometheus_storage_gib}) to leave room for the WAL",
                m.retention_size_gib,
            )
        )
    if cfg.grafana_admin_password is None:
        out.append(
            _p("grafanaAdminPassword", "required: set it with `pulumi config set --secret grafanaAdminPassword ...`")
        )
    if m.alerting.slack_channel and cfg.alertmanager_slack_webhook_url is None:
        out.append(_p("alertmanagerSlackWebhookUrl", "monitoring.alerting.slackChannel needs this secret"))
    if m.alerting.pagerduty and cfg.alertmanager_pagerduty_routing_key is None:
        out.append(_p("alertmanagerPagerdutyRoutingKey", "monitoring.alerting.pagerduty needs this secret"))

    # serving
    s = cfg.serving
    if not _K8S_NAME.match(s.namespace):
        out.append(_p("serving.namespace", "a DNS label", s.namespace))
    if s.ingress.scheme == "internet-facing" and not s.ingress.certificate_arn:
        out.append(_p("serving.ingress.certificateArn", "an internet-facing ALB needs a TLS certificate ARN"))
    if s.ingress.scheme == "internet-facing" and not s.ingress.inbound_cidrs:
        out.append(
            _p("serving.ingress.inboundCidrs", "an internet-facing ALB needs an explicit allowlist of client CIDRs")
        )
    if s.ingress.certificate_arn and not re.match(
        r"^arn:aws(-[a-z]+)?:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+$", s.ingress.certificate_arn
    ):
        out.append(_p("serving.ingress.certificateArn", "an ACM certificate ARN", s.ingress.certificate_arn))
    resolved_models = cfg.resolved_models()
    if any(m.source.s3_prefix for m in resolved_models.values()):
        sync = s.model_sync_image
        if sync is None:
            out.append(_p("serving.modelSyncImage", "required when a model reads its weights from source.s3Prefix"))
        elif sync.upstream not in cfg.registry.pull_through_cache or not (
            cfg.registry.pull_through_cache[sync.upstream].enabled
        ):
            out.append(
                _p(
                    "serving.modelSyncImage.upstream",
                    "must be an enabled registry.pullThroughCache rule",
                    sync.upstream,
                )
            )
    repos = cfg.registry.repositories
    gpu_pools = [p for p in pools.values() if p.gpu]
    for name, model in resolved_models.items():
        base = f"serving.models.{name}"
        if not _K8S_NAME.match(name) or len(name) > 40:
            out.append(_p(base, "model names are DNS labels of at most 40 characters", name))
        if model.image is None:
            out.append(_p(f"{base}.image", "required (here or in serving.modelDefaults)"))
        for label, ref in (("image", model.image), ("canary.image", model.canary.image if model.canary else None)):
            if ref is None:
                continue
            if ref.repository not in repos:
                out.append(
                    _p(
                        f"{base}.{label}.repository",
                        f"must be one of registry.repositories: {sorted(repos)}",
                        ref.repository,
                    )
                )
            if not ref.tag and not ref.digest:
                out.append(_p(f"{base}.{label}", "pin the image with a digest or an immutable tag"))
        if model.min_replicas > model.max_replicas:
            out.append(_p(f"{base}.minReplicas", f"must be <= maxReplicas ({model.max_replicas})", model.min_replicas))
        if model.min_replicas == 0 and not (s.allow_scale_to_zero and model.autoscaling.type == "keda"):
            out.append(
                _p(f"{base}.minReplicas", "0 needs autoscaling.type: keda and serving.allowScaleToZero: true", 0)
            )
        if model.autoscaling.type == "keda" and not model.autoscaling.query:
            out.append(_p(f"{base}.autoscaling.query", "KEDA autoscaling needs a Prometheus query"))
        if model.gpus and not gpu_pools:
            out.append(_p(f"{base}.gpus", "a GPU model needs at least one GPU node pool", model.gpus))
        if model.gpus and gpu_pools and model.gpus > max(p.gpus_per_node for p in gpu_pools):
            out.append(_p(f"{base}.gpus", f"no GPU pool has {model.gpus} GPUs per node", model.gpus))
        if model.source.s3_prefix and model.source.pvc_size_gib:
            out.append(_p(f"{base}.source", "choose either s3Prefix or pvcSizeGib"))
        if model.source.s3_prefix and model.weights_size_gib is None:
            out.append(_p(f"{base}.weightsSizeGiB", "required with source.s3Prefix: it sizes the models volume"))
        if model.source.pvc_size_gib and (model.max_replicas > 1 or model.canary):
            # An EBS volume attaches to one node: a shared RWO cache cannot serve several replicas.
            out.append(
                _p(
                    f"{base}.source.pvcSizeGib",
                    "an EBS (ReadWriteOnce) cache serves one replica: maxReplicas 1, no canary",
                )
            )
        if model.source.s3_prefix and (model.source.s3_prefix.startswith("/") or "*" in model.source.s3_prefix):
            out.append(
                _p(f"{base}.source.s3Prefix", "a key prefix without a leading '/' or wildcards", model.source.s3_prefix)
            )
        if not model.metrics_path.startswith("/"):
            out.append(_p(f"{base}.metricsPath", "an absolute HTTP path", model.metrics_path))
        out.extend(_served_name_problems(name, model, base))

    # CI runners
    ci = cfg.ci_runners
    if ci.enabled:
        if not re.match(r"^https://[\w.-]+/[\w.-]+(/[\w.-]+)?$", ci.github_config_url):
            out.append(
                _p(
                    "ciRunners.githubConfigUrl",
                    "https://github.com/<org> or https://github.com/<org>/<repo>",
                    ci.github_config_url,
                )
            )
        if not ci.github_app_id.isdigit():
            out.append(_p("ciRunners.githubAppId", "the numeric GitHub App ID", ci.github_app_id))
        if not ci.github_app_installation_id.isdigit():
            out.append(
                _p("ciRunners.githubAppInstallationId", "the numeric installation ID", ci.github_app_installation_id)
            )
        if cfg.github_app_private_key is None:
            out.append(
                _p("githubAppPrivateKey", "required when ciRunners.enabled: set it with `pulumi config set --secret`")
            )
        if not ci.scale_sets:
            out.append(_p("ciRunners.scaleSets", "at least one scale set when ciRunners.enabled"))
        for key, value in (("namespace", ci.namespace), ("jobNamespace", ci.job_namespace)):
            if not _K8S_NAME.match(value):
                out.append(_p(f"ciRunners.{key}", "a DNS label", value))
        if ci.job_namespace == ci.namespace:
            out.append(
                _p(
                    "ciRunners.jobNamespace",
                    "must differ from ciRunners.namespace: job pods there could read the GitHub App key",
                    ci.job_namespace,
                )
            )
        for name, rs in cfg.resolved_scale_sets().items():
            if (rs.min_runners or 0) > (rs.max_runners or 0):
                out.append(
                    _p(
                        f"ciRunners.scaleSets.{name}.minRunners",
                        f"must be <= maxRunners ({rs.max_runners})",
                        rs.min_runners,
                    )
                )
            if rs.gpus and not gpu_pools:
                out.append(_p(f"ciRunners.scaleSets.{name}.gpus", "GPU runners need a GPU node pool", rs.gpus))
            if rs.node_pool is not None:
                rs_pool = pools.get(rs.node_pool)
                if rs_pool is None:
                    out.append(
                        _p(
                            f"ciRunners.scaleSets.{name}.nodePool",
                            f"must be one of nodePools: {sorted(pools)}",
                            rs.node_pool,
                        )
                    )
                elif bool(rs.gpus) != rs_pool.gpu:
                    kind = "a GPU" if rs.gpus else "a CPU"
                    out.append(
                        _p(
                            f"ciRunners.scaleSets.{name}.nodePool",
                            f"runners with gpus: {rs.gpus} need {kind} pool",
                            rs.node_pool,
                        )
                    )
                elif rs.gpus and rs.gpus > rs_pool.gpus_per_node:
                    out.append(
                        _p(
                            f"ciRunners.scaleSets.{name}.gpus",
                            f"pool {rs.node_pool} has {rs_pool.gpus_per_node} GPUs per node",
                            rs.gpus,
                        )
                    )
            if not _K8S_NAME.match(name):
                out.append(_p(f"ciRunners.scaleSets.{name}", "scale-set names are DNS labels", name))
    if not cfg.images.build and ci.enabled and cfg.images.runner_image is None:
        out.append(_p("images.runnerImage", "required when images.build is false: the runner image by digest"))
    if cfg.images.build:
        for key, build_repo in (
            ("images.runnerRepository", cfg.images.runner_repository),
            ("images.modelServerRepository", cfg.images.model_server_repository),
        ):
            if build_repo is not None and build_repo not in repos:
                out.append(_p(key, f"must be one of registry.repositories: {sorted(repos)}", build_repo))
    if cfg.images.runner_image and cfg.images.runner_image.repository not in repos:
        out.append(
            _p(
                "images.runnerImage.repository",
                f"must be one of registry.repositories: {sorted(repos)}",
                cfg.images.runner_image.repository,
            )
        )

    out.extend(_ml_lifecycle_problems(cfg))
    out.extend(_ci_backend_problems(cfg))

    # delivery: each cluster admits only its own environment's deploy role
    d = cfg.delivery
    if d.enabled:
        out.extend(_deploy_path_problems(cfg))
    for i, arn in enumerate(cfg.cluster.admin_role_arns):
        match = _DEPLOY_ROLE.match(arn)
        # Only with the stack's name (the program and the CLIs pass it): the tier is not the role's suffix.
        if match and cfg._stack is not None and match.group(1) != cfg.stack:
            out.append(
                _p(
                    f"cluster.adminRoleArns[{i}]",
                    f"another environment's deploy role; the {cfg.stack} cluster admits only {deploy_role_name(cfg.stack)}",
                    arn,
                )
            )
    return out


def _job_profile_problems(cfg: PlatformConfig, base: str, prof: CiJobProfile, gpu: bool) -> list[Problem]:
    out: list[Problem] = []
    pools = cfg.resolved_node_pools()
    if gpu and prof.gpus and not any(p.gpu for p in pools.values()):
        out.append(_p(f"{base}.gpus", "GPU jobs need a GPU node pool", prof.gpus))
    if not gpu and prof.gpus:
        out.append(_p(f"{base}.gpus", "CPU job profiles take no GPU; use gpuJob", prof.gpus))
    if prof.node_pool is not None:
        pool = pools.get(prof.node_pool)
        if pool is None:
            out.append(_p(f"{base}.nodePool", f"must be one of nodePools: {sorted(pools)}", prof.node_pool))
        elif bool(prof.gpus) != pool.gpu:
            out.append(
                _p(
                    f"{base}.nodePool",
                    f"jobs with gpus: {prof.gpus} need a {'GPU' if prof.gpus else 'CPU'} pool",
                    prof.node_pool,
                )
            )
        elif prof.gpus > pool.gpus_per_node:
            out.append(_p(f"{base}.gpus", f"pool {prof.node_pool} has {pool.gpus_per_node} GPUs per node", prof.gpus))
    return out


_RESOURCE_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*/[A-Za-z0-9][A-Za-z0-9_-]*$")


def _ci_backend_problems(cfg: PlatformConfig) -> list[Problem]:
    """GitLab Runner, Jenkins and CircleCI rules (each only when enabled)."""
    out: list[Problem] = []
    ci = cfg.ci_runners
    gl, jk, cc = ci.gitlab, ci.jenkins, ci.circleci
    arc_namespaces = {ci.namespace, ci.job_namespace, "arc-systems"} if ci.enabled else set()
    owned: dict[str, str] = dict.fromkeys(arc_namespaces, "ciRunners (ARC)")
    backends: list[tuple[str, bool, list[tuple[str, str]], list[tuple[str, SecretStr | None]]]] = [
        (
            "gitlab",
            gl.enabled,
            [("namespace", gl.namespace), ("jobNamespace", gl.job_namespace)],
            [("gitlabRunnerToken", cfg.gitlab_runner_token)]
            + (
                [("gitlabGpuRunnerToken", cfg.gitlab_gpu_runner_token)] if gl.gpu_concurrent and gl.gpu_job.gpus else []
            ),
        ),
        (
            "jenkins",
            jk.enabled,
            [("namespace", jk.namespace), ("agentNamespace", jk.agent_namespace)],
            [("jenkinsAdminPassword", cfg.jenkins_admin_password)],
        ),
        (
            "circleci",
            cc.enabled,
            [("namespace", cc.namespace)],
            [("circleciCpuResourceClassToken", cfg.circleci_cpu_resource_class_token)]
            + (
                [("circleciGpuResourceClassToken", cfg.circleci_gpu_resource_class_token)]
                if cc.gpu_resource_class
                else []
            ),
        ),
    ]
    for backend, enabled, namespaces, secrets in backends:
        if not enabled:
            continue
        base = f"ciRunners.{backend}"
        for key, ns in namespaces:
            if not _K8S_NAME.match(ns):
                out.append(_p(f"{base}.{key}", "a DNS label", ns))
            elif ns in owned:
                out.append(_p(f"{base}.{key}", f"already used by {owned[ns]}: every backend needs its own", ns))
            else:
                owned[ns] = base
        for key, value in secrets:
            if value is None or not value.get_secret_value():
                out.append(_p(key, f"required when {base}.enabled: set it with `pulumi config set --secret {key}`"))
    for backend, enabled, cpu_job, gpu_job in (
        ("gitlab", gl.enabled, gl.cpu_job, gl.gpu_job),
        ("jenkins", jk.enabled, jk.cpu_job, jk.gpu_job),
        ("circleci", cc.enabled, cc.cpu_job, cc.gpu_job),
    ):
        if enabled:
            out += _job_profile_problems(cfg, f"ciRunners.{backend}.cpuJob", cpu_job, gpu=False)
            out += _job_profile_problems(cfg, f"ciRunners.{backend}.gpuJob", gpu_job, gpu=True)
    if gl.enabled and not re.match(r"^https://[\w.-]+(:\d+)?/([\w.-]+/)*$", gl.gitlab_url):
        out.append(_p("ciRunners.gitlab.gitlabUrl", "https://<host>/ (ending in /)", gl.gitlab_url))
    if gl.enabled and gl.gpu_concurrent and not gl.gpu_job.gpus:
        out.append(_p("ciRunners.gitlab.gpuJob.gpus", "at least 1 while gpuConcurrent > 0", gl.gpu_job.gpus))
    if cc.enabled:
        for key, rc in (("cpuResourceClass", cc.cpu_resource_class), ("gpuResourceClass", cc.gpu_resource_class)):
            if rc is not None and not _RESOURCE_CLASS.match(rc):
                out.append(
                    _p(f"ciRunners.circleci.{key}", "<namespace>/<resource-class> (letters, digits, - and _)", rc)
                )
        if cc.gpu_resource_class and not cc.gpu_job.gpus:
            out.append(_p("ciRunners.circleci.gpuJob.gpus", "at least 1 with a gpuResourceClass", cc.gpu_job.gpus))
    return out


def _deploy_path_problems(cfg: PlatformConfig) -> list[Problem]:
    """CI must reach the API endpoint: GitHub-hosted runners only reach a public endpoint open to 0.0.0.0/0."""
    runner = cfg.delivery.deploy_runner
    open_to_all = cfg.cluster.endpoint_public_access and "0.0.0.0/0" in cfg.cluster.public_access_cidrs
    if not runner.enabled:
        if open_to_all:
            return []
        return [
            _p(
                "delivery.deployRunner.enabled",
                "CI jobs cannot reach this cluster's API endpoint (private, or public only to an allowlist GitHub-hosted "
                "runners are not in); enable the in-VPC deploy runner (ADR 0008)",
                False,
            )
        ]
    if runner.connection_arn is None:
        return [
            _p(
                "delivery.deployRunner.connectionArn",
                "required: the CodeConnections connection to GitHub the in-VPC runner registers through "
                "(create it once in the console, docs/operations.md)",
            )
        ]
    return []


def runner_project_name(stack: str) -> str:
    """CodeBuild project of a stack's in-VPC runner; jobs select it with ``runs-on: codebuild-<name>-<run id>-<attempt>``."""
    return f"{PROJECT}-deployer-{stack}"


def _ini_safe_password(v: str) -> bool:
    """Whether the chart can write ``v`` into MLflow's INI file: it splices it in with ``sed`` (``&``, ``/`` and
    ``\\`` are special there) and MLflow reads the file with configparser (``%`` is special there)."""
    return not re.search(r"[%&/\\\n\r]", v)


def _ml_lifecycle_problems(cfg: PlatformConfig) -> list[Problem]:
    """Drift, MLflow and DVC rules."""
    out: list[Problem] = []
    d, mf = cfg.drift, cfg.mlflow
    repos = cfg.registry.repositories
    for key, ns in (("drift.namespace", d.namespace), ("mlflow.namespace", mf.namespace)):
        if not _K8S_NAME.match(ns):
            out.append(_p(key, "a DNS label", ns))
    drifting = [n for n, m in cfg.serving.models.items() if m.drift]
    if drifting and d.image is None:
        out.append(_p("drift.image", f"required: models {drifting} have a drift section (the images/drift-job image)"))
    if d.image is not None:
        if d.image.repository not in repos:
            out.append(
                _p(
                    "drift.image.repository",
                    f"must be one of registry.repositories: {sorted(repos)}",
                    d.image.repository,
                )
            )
        if not d.image.tag and not d.image.digest:
            out.append(_p("drift.image", "pin the image with a digest or an immutable tag"))
    for name in drifting:
        spec = cfg.serving.models[name].drift
        assert spec is not None
        if spec.reference == spec.current:
            out.append(_p(f"serving.models.{name}.drift.current", "must differ from drift.reference", spec.current))
    if mf.enabled:
        if cfg.mlflow_admin_password is None:
            out.append(
                _p("mlflowAdminPassword", "required when mlflow.enabled: set it with `pulumi config set --secret`")
            )
        elif not _ini_safe_password(cfg.mlflow_admin_password.get_secret_value()):
            out.append(
                _p(
                    "mlflowAdminPassword",
                    "must not contain % & / \\ or line breaks (the chart writes it into an INI file with sed)",
                )
            )
        if mf.db_max_storage_gib < mf.db_storage_gib:
            out.append(
                _p("mlflow.dbMaxStorageGib", f"must be >= dbStorageGib ({mf.db_storage_gib})", mf.db_max_storage_gib)
            )
        if cfg.environment is Environment.PROD:
            if not mf.db_multi_az:
                out.append(_p("mlflow.dbMultiAz", "prod needs a multi-AZ database", False))
            if not mf.db_deletion_protection:
                out.append(_p("mlflow.dbDeletionProtection", "prod needs deletion protection", False))
            if mf.db_backup_retention_days < 7:
                out.append(
                    _p(
                        "mlflow.dbBackupRetentionDays",
                        "prod keeps backups at least 7 days",
                        mf.db_backup_retention_days,
                    )
                )
            if not cfg.protect_stateful_resources:
                out.append(
                    _p("protectStatefulResources", "prod protects its stateful resources (the MLflow database)", False)
                )
        for i, ns in enumerate(mf.client_namespaces or []):
            if not _K8S_NAME.match(ns):
                out.append(_p(f"mlflow.clientNamespaces[{i}]", "a DNS label", ns))
            elif ns == cfg.ci_runners.job_namespace and not cfg.ci_runners.enabled:
                # The egress allow MLflow adds there needs the namespace, which only the CI runners create.
                out.append(
                    _p(f"mlflow.clientNamespaces[{i}]", "the CI runners' namespace, but ciRunners.enabled is false", ns)
                )
    if cfg.dvc.enabled and not cfg.delivery.enabled and not cfg.dvc.principal_arns:
        out.append(
            _p("dvc.principalArns", "nobody could assume the DVC role: enable delivery (GitHub OIDC) or list roles")
        )
    return out


_DEPLOY_ROLE = re.compile(rf"^arn:aws(?:-[a-z]+)?:iam::\d{{12}}:role/{PROJECT}-deploy-([a-z0-9-]+)$")


def deploy_role_name(environment: str) -> str:
    """Name of the role GitHub Actions assumes to deploy ``environment`` (``ai-platform-deploy-prod``)."""
    return f"{PROJECT}-deploy-{environment}"


def preview_role_name(environment: str) -> str:
    """Name of the read-only role PR previews and drift detection assume in ``environment``'s account."""
    return f"{PROJECT}-preview-{environment}"


def preview_environment_name(environment: str) -> str:
    """GitHub Environment a credentialed PR preview of ``environment`` runs in (``prod-preview``); the preview
    role trusts it instead of ``pull_request``, so its required reviewers gate PR code that can decrypt."""
    return f"{environment}-preview"


def iam_path() -> str:
    """IAM path of every role, policy and instance profile the program creates (``/ai-platform/``): the CI deploy
    role may create and tag IAM resources only under it (ADR 0007). The deploy identity itself stays at ``/``."""
    return f"/{PROJECT}/"


def boundary_policy_name(environment: str) -> str:
    """Name of the permissions boundary of ``environment``'s deploy identity and platform roles."""
    return f"{PROJECT}-boundary-{environment}"


def admitted_role_arns(cfg: PlatformConfig) -> list[str]:
    """The cluster's admin principals: ``cluster.adminRoleArns`` (extra principals) plus this stack's own deploy
    role, derived from ``accountId`` and the stack name, so moving a stack to another account moves it too."""
    roles = list(cfg.cluster.admin_role_arns)
    own = deploy_role_arn(cfg.account_id, cfg.stack)
    if cfg.delivery.enabled and own not in roles:
        roles.append(own)
    return roles


def deploy_role_arn(account_id: str, environment: str) -> str:
    """ARN of :func:`deploy_role_name` in ``account_id``."""
    return f"arn:aws:iam::{account_id}:role/{deploy_role_name(environment)}"


# --------------------------------------------------------------------------- loading
class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The message lists every problem; it prints without a traceback."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        if len(problems) == 1 and problems[0].path == "(file)":
            # The file itself is unreadable: one line, naming it and what is wrong.
            super().__init__(f"{source}: {input_rules.redact(problems[0].message)}")
            return
        lines = [f"{source}: invalid configuration ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        for p in problems:
            where = p.path if not p.config_key or ":" in p.path.split(".")[0] else f"{PROJECT}:{p.path}"
            shown = f" (got {_show(p.value)})" if p.has_value else ""
            lines.append(f"  - {input_rules.safe_key(where, 300)}: {input_rules.redact(p.message + shown)}")
        super().__init__("\n".join(lines))


def _show(v: Any) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str] | None:
    """The keys allowed at the mapping that holds ``loc[-1]``, for 'unknown key' messages."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fld = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
            if fld is None:
                return None
            model = _unwrap(fld.annotation)
        elif isinstance(model, tuple) and model[0] is dict:
            model = _unwrap(model[1])
        else:
            return None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is dict:
        return (dict, args[1])
    if origin in (list,):
        return (list, args[0])
    if args and origin is not Literal:
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def problems_from_validation(exc: ValidationError) -> list[Problem]:
    """Turn pydantic errors into problems with key paths and allowed values."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # Errors raised inside a field validator carry the field as the last loc part.
        path = _loc_path(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
            out.append(_p(path, msg))
            continue
        if err["type"] == "missing":
            out.append(_p(path, "required key is missing"))
            continue
        value = err.get("input")
        if path.split(".")[-1] in SECRET_KEYS:
            out.append(_p(path, msg))
        else:
            out.append(_p(path, msg, value))
    return out


def _secret_problems(raw: Mapping[str, Any], secret_keys: set[str]) -> list[Problem]:
    out = []
    for key in SECRET_KEYS:
        if key in raw and raw[key] is not None and key not in secret_keys:
            out.append(
                _p(
                    key,
                    f"is a secret: set it with `pulumi config set --secret {key} ...` so the stack file holds a `secure:` value",
                )
            )

    def walk(v: Any, path: str) -> None:
        if isinstance(v, Mapping):
            for k, sub in v.items():
                p = f"{path}.{k}"
                if (
                    isinstance(sub, str)
                    and sub
                    and _SECRETISH.search(str(k))
                    and not str(k).endswith(("Arn", "Name", "Ref", "Alias"))
                ):
                    out.append(_p(p, "looks like a plaintext secret; use a `secure:` config value or a secret store"))
                else:
                    walk(sub, p)
        elif isinstance(v, list):
            for i, sub in enumerate(v):
                walk(sub, f"{path}[{i}]")

    for key, value in raw.items():
        if key not in SECRET_KEYS and key not in secret_keys:
            walk(value, key)
    return out


def _input_problems(raw: Mapping[str, Any], secret_keys: set[str]) -> list[Problem]:
    """Hostile or mistaken values anywhere (infra/input_rules.py): credentials, sizes, tag and label syntax.

    Never shows the value: it may be a credential, or megabytes long.
    """
    found: dict[str, list[str]] = {}

    def add(findings: Iterable[tuple[str, str]]) -> None:
        for path, msg in findings:
            found.setdefault(path, [])
            if msg not in found[path]:
                found[path].append(msg)

    plain = {k: v for k, v in raw.items() if k not in SECRET_KEYS and k not in secret_keys}
    for key, value in plain.items():
        add(input_rules.size_findings(value, key))
        add((p, f"{m}; {input_rules.CREDENTIAL_ADVICE}") for p, m in input_rules.credential_findings(value, key))
    tags = raw.get("tags")
    if isinstance(tags, Mapping):
        add(input_rules.aws_tag_findings(tags, "tags"))
    for path, labels in _label_maps(raw):
        add(input_rules.k8s_label_findings(labels, path))
    return [_p(path, "; ".join(msgs)) for path, msgs in found.items()]


def _label_maps(raw: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    defaults = raw.get("nodePoolDefaults")
    if isinstance(defaults, Mapping) and isinstance(defaults.get("labels"), Mapping):
        yield "nodePoolDefaults.labels", defaults["labels"]
    pools = raw.get("nodePools")
    for name, pool in pools.items() if isinstance(pools, Mapping) else ():
        if isinstance(pool, Mapping) and isinstance(pool.get("labels"), Mapping):
            yield f"nodePools.{name}.labels", pool["labels"]


def parse_config(
    raw: Mapping[str, Any], *, secret_keys: Iterable[str], source: str, stack: str | None = None
) -> PlatformConfig:
    """Validate a raw ``{key: value}`` map (project namespace stripped; objects already decoded).

    ``stack`` is the stack's name (role names and the GitHub Environment follow it); without it, the tier.
    Raises :class:`ConfigError` listing every problem.
    """

    required = [f.alias or n for n, f in PlatformConfig.model_fields.items() if f.is_required()]
    if not any(k in raw for k in required):
        # One line instead of one "required key is missing" per key.
        msg = f"sets none of the required `{PROJECT}:` keys ({', '.join(required)}); is the file empty?"
        raise ConfigError(source, [Problem("(file)", msg, config_key=False)])
    secret_set = set(secret_keys)
    # Pulumi.yaml gives optional secrets (a receiver that is off) the default "", so the CLI does not demand
    # a value for them; "" is "not set".
    raw = {k: v for k, v in raw.items() if not (k in OPTIONAL_SECRET_KEYS and v == "")}
    problems = _secret_problems(raw, secret_set)
    seen = {p.path for p in problems}
    problems += [p for p in _input_problems(raw, secret_set) if p.path not in seen]
    cfg: PlatformConfig | None = None
    try:
        cfg = PlatformConfig.model_validate(dict(raw))
        cfg._stack = stack
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc))
    if cfg is not None:
        problems.extend(cross_field_problems(cfg))
    if problems or cfg is None:
        raise ConfigError(source, [_without_credential(p) for p in problems])
    return cfg


def _without_credential(p: Problem) -> Problem:
    """A problem whose value holds a credential is reported without it."""
    if p.has_value and input_rules.credential_kind(json.dumps(p.value, default=str)):
        return Problem(p.path, p.message, config_key=p.config_key)
    return p


def decode_flat(flat: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """Project keys of a flat Pulumi config map (``ai-platform:key`` -> string) decoded to values.

    Objects and arrays arrive JSON-encoded, booleans and numbers as strings; foreign
    namespaces (``aws:``) are ignored because the program configures its providers itself.
    Secrets (``SECRET_KEYS``) stay strings: a PEM key, password or webhook URL that happens to start
    with ``{`` or equal ``true`` is still that string.
    """
    raw: dict[str, Any] = {}
    problems = _stale_namespace_problems(flat)
    for full, text in flat.items():
        ns, _, key = full.partition(":")
        if ns != PROJECT:
            continue
        if key in SECRET_KEYS:
            raw[key] = text
        elif isinstance(text, str) and text[:1] in "{[":
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(_p(key, f"is not valid JSON ({exc.msg})"))
        elif text in ("true", "false"):
            raw[key] = text == "true"
        else:
            raw[key] = text
    return raw, problems


def _stale_namespace_problems(flat: Mapping[str, str]) -> list[Problem]:
    """Project keys under another project's namespace (left by a rename) would be ignored silently: refuse them."""
    ours = {f.alias or n for n, f in PlatformConfig.model_fields.items()} | set(SECRET_KEYS)
    counts: dict[str, int] = {}
    for full in flat:
        ns, _, key = full.partition(":")
        # Providers' namespaces share key names with ours (`aws:region`, `pulumi:tags`).
        if ns != PROJECT and ns not in ("aws", "kubernetes", "docker", "pulumi") and key in ours:
            counts[ns] = counts.get(ns, 0) + 1
    return [
        Problem(
            f"{ns}:",
            f"found {n} key{'s' if n != 1 else ''} under `{ns}:`, the project is `{PROJECT}`: rename them to `{PROJECT}:…`",
            config_key=False,
        )
        for ns, n in sorted(counts.items())
    ]


def load_config() -> PlatformConfig:
    """Load and validate this stack's configuration from the running Pulumi program.

    This is the only place the program reads configuration.
    """
    from pulumi.runtime import config as rc

    flat: dict[str, Any] = {**rc.get_config_env(), **rc.CONFIG.get()}
    secret_keys = set(rc.get_config_secret_keys_env()) | rc._SECRET_KEYS.get()
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    raw, problems = decode_flat(flat)
    problems += [
        _p(path, msg)
        for full, text in flat.items()
        if not full.startswith(PROJECT + ":") and full not in secret_keys
        for path, msg in input_rules.foreign_credential_findings(full, text)
    ]
    secret_names = {k.partition(":")[2] for k in secret_keys if k.startswith(PROJECT + ":")}
    try:
        cfg = parse_config(raw, secret_keys=secret_names, source=source, stack=pulumi.get_stack())
    except ConfigError as err:
        raise ConfigError(source, problems + err.problems) from None
    if problems:
        raise ConfigError(source, problems)
    return cfg


__all__ = [
    "PROJECT",
    "ConfigError",
    "Environment",
    "Model",
    "NodePool",
    "PlatformConfig",
    "Problem",
    "load_config",
    "parse_config",
]

# Exposed for docs generation: the sections and their Args-like models.
SECTIONS: Mapping[str, type[BaseModel]] = {
    "network": NetworkConfig,
    "registry": RegistryConfig,
    "artifacts": ArtifactsConfig,
    "cluster": ClusterConfig,
    "nodePoolDefaults": NodePoolSpec,
    "gpu": GpuConfig,
    "monitoring": MonitoringConfig,
    "serving": ServingConfig,
    "ciRunners": CiRunnersConfig,
    "images": ImagesConfig,
    "delivery": DeliveryConfig,
    "drift": DriftConfig,
    "mlflow": MlflowConfig,
    "dvc": DvcConfig,
    "audit": AuditConfig,
}
