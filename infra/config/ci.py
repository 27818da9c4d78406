"""``ciRunners`` and ``images``: ARC scale sets, GitLab, Jenkins, CircleCI, built images."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from components.ci_runners import RunnerScaleSet
from infra.config._base import _Model, _quantity, derived, required_when
from infra.config.serving import ImageRef

# --------------------------------------------------------------------------- CI runners + images
# The platform's runner defaults live on the component's type; the config type takes them from there.
_RUNNER = RunnerScaleSet()


class RunnerScaleSetSpec(_Model):
    """One GitHub Actions runner scale set; unset fields fall back to ``ciRunners.scaleSetDefaults``, then to
    the defaults below (those of :class:`components.ci_runners.RunnerScaleSet`)."""

    min_runners: int = Field(default=_RUNNER.min_runners, ge=0, le=100)
    """Idle runners kept warm."""
    max_runners: int = Field(default=_RUNNER.max_runners, ge=1, le=500)
    """Maximum concurrent runners."""
    gpus: int = Field(default=_RUNNER.gpus, ge=0, le=8)
    """GPUs per runner; >0 places it on GPU pools with the taint tolerated."""
    cpu: str = _RUNNER.cpu
    """CPU per runner."""
    memory: str = _RUNNER.memory
    """Memory per runner."""
    container_mode: Literal["kubernetes", "dind"] = _RUNNER.container_mode
    """``kubernetes`` (job containers as pods) or ``dind`` (privileged; avoid)."""
    node_pool: str | None = derived("any CPU pool (GPU runners: any GPU pool)")
    """Run the runners on this node pool only."""
    work_volume_gib: int = Field(default=_RUNNER.work_volume_gib, ge=1, le=1024)
    """Ephemeral storage of a runner (its ``_work`` directory lives in the container in kubernetes mode)."""
    job_cpu: str = _RUNNER.job_cpu
    """CPU of each job pod the container hooks create (requests equal limits). Without it the job namespace's
    LimitRange default (500m) would cap every build."""
    job_memory: str = _RUNNER.job_memory
    """Memory of each job pod (requests equal limits)."""
    job_ephemeral_storage_gib: int = Field(default=_RUNNER.job_ephemeral_storage_gib, ge=1, le=1024)
    """Ephemeral storage of each job pod: checkout, caches and build outputs."""

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
    node_pool: str | None = derived("any CPU pool (GPU profiles: any GPU pool)")
    """Run these jobs on this node pool only."""
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
    cpu_resource_class: str = required_when("enabled: true")
    """``<namespace>/<name>`` of the CPU resource class (created with the CircleCI CLI)."""
    gpu_resource_class: str | None = None
    """``<namespace>/<name>`` of the GPU resource class; unset: no GPU class."""
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
    github_config_url: str = required_when("enabled: true")
    """The GitHub organisation or repository the runners register with."""
    github_app_id: str = required_when("enabled: true")
    """GitHub App ID (its private key is the ``githubAppPrivateKey`` secret)."""
    github_app_installation_id: str = required_when("enabled: true")
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
