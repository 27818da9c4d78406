"""The ``ciRunners`` and ``images`` sections' cross-field rules."""

from __future__ import annotations

import re

from pydantic import (
    SecretStr,
)

from components.ci_runners import RunnerScaleSet
from infra.config._base import _K8S_NAME
from infra.config.ci import CiJobProfile
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p, missing_required


def ci_runner_problems(cfg: PlatformConfig) -> list[Problem]:
    """ARC: GitHub App, namespaces and scale sets (when enabled); the images it runs."""
    out: list[Problem] = []
    ci = cfg.ci_runners
    if ci.enabled:
        out.extend(missing_required("ciRunners", ci))
        if ci.github_config_url and not re.match(r"^https://[\w.-]+/[\w.-]+(/[\w.-]+)?$", ci.github_config_url):
            out.append(
                _p(
                    "ciRunners.githubConfigUrl",
                    "https://github.com/<org> or https://github.com/<org>/<repo>",
                    ci.github_config_url,
                )
            )
        if ci.github_app_id and not ci.github_app_id.isdigit():
            out.append(_p("ciRunners.githubAppId", "the numeric GitHub App ID", ci.github_app_id))
        if ci.github_app_installation_id and not ci.github_app_installation_id.isdigit():
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
        for name, rs in cfg.runner_scale_sets().items():
            out.extend(_scale_set_problems(cfg, name, rs))
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


def ci_backend_problems(cfg: PlatformConfig) -> list[Problem]:
    """GitLab Runner, Jenkins and CircleCI rules (each only when enabled)."""
    out: list[Problem] = []
    ci = cfg.ci_runners
    gl, jk, cc = ci.gitlab, ci.jenkins, ci.circleci
    arc_namespaces = {ci.namespace, ci.job_namespace, "arc-systems"} if ci.enabled else set()
    owned: dict[str, str] = dict.fromkeys(arc_namespaces, "ciRunners (ARC)")
    backends = _backends(cfg)
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
        out.extend(missing_required("ciRunners.circleci", cc))
        for key, rc in (("cpuResourceClass", cc.cpu_resource_class), ("gpuResourceClass", cc.gpu_resource_class)):
            if rc and not _RESOURCE_CLASS.match(rc):
                out.append(
                    _p(f"ciRunners.circleci.{key}", "<namespace>/<resource-class> (letters, digits, - and _)", rc)
                )
        if cc.gpu_resource_class and not cc.gpu_job.gpus:
            out.append(_p("ciRunners.circleci.gpuJob.gpus", "at least 1 with a gpuResourceClass", cc.gpu_job.gpus))
    return out


def images_problems(cfg: PlatformConfig) -> list[Problem]:
    """The runner image (when not built) and the repositories built images go to."""
    out: list[Problem] = []
    ci, repos = cfg.ci_runners, cfg.registry.repositories
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
    return out


def _scale_set_problems(cfg: PlatformConfig, name: str, rs: RunnerScaleSet) -> list[Problem]:
    """One resolved scale set: runner counts, its GPUs and its node pool."""
    out: list[Problem] = []
    pools = cfg.resolved_node_pools()
    gpu_pools = [p for p in pools.values() if p.gpu]
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
    return out


_Backend = tuple[str, bool, list[tuple[str, str]], list[tuple[str, SecretStr | None]]]


def _backends(cfg: PlatformConfig) -> list[_Backend]:
    """Each backend: name, enabled, its namespaces (key, value) and the secrets it needs (key, value)."""
    ci = cfg.ci_runners
    gl, jk, cc = ci.gitlab, ci.jenkins, ci.circleci
    return [
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
