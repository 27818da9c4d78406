"""CI backends in the cluster: GitHub Actions runner scale sets (ARC), GitLab, Jenkins, CircleCI.

Each in its own namespaces, job pods with explicit resources and a GPU profile, a registry push role only
where the backend's ``pushToRegistry`` says. Kubernetes layer only (ADR 0008).
"""

from __future__ import annotations

import pulumi

from components._ci import JobProfile
from components.ci_runners import CiRunners, CiRunnersArgs
from components.circleci_agent import CircleciAgent, CircleciAgentArgs
from components.cluster_context import ClusterContext
from components.gitlab_runner import GitlabRunner, GitlabRunnerArgs
from components.jenkins import Jenkins, JenkinsArgs
from components.registry import Registry
from infra.config import LABEL_POOL, CiJobProfile
from infra.wiring.stack import Stack, required_secret, secret


def job_profile(p: CiJobProfile) -> JobProfile:
    """A job profile from config, its pool as a node selector."""
    selector = {LABEL_POOL: p.node_pool} if p.node_pool else {}
    return JobProfile(p.cpu, p.memory, p.ephemeral_storage_gib, p.gpus, selector, p.restricted)


def push_repository_arns(registry: Registry, push_to_registry: bool) -> list[pulumi.Output[str]]:
    """The repositories a backend's jobs may push to: all of the platform's, or none."""
    return [repo.arn for repo in registry.repositories.values()] if push_to_registry else []


def github_runners(
    stack: Stack, context: ClusterContext, registry: Registry, runner_image: pulumi.Input[str] | None
) -> CiRunners | None:
    """GitHub Actions runner scale sets (ARC) with the GitHub App's credentials."""
    cfg, ci = stack.cfg, stack.cfg.ci_runners
    if not ci.enabled:
        return None
    if runner_image is None:
        raise ValueError("ciRunners needs images.build or images.runnerImage")  # the config requires one
    return CiRunners(
        "ci-runners",
        CiRunnersArgs(
            github_config_url=ci.github_config_url,
            github_app_id=ci.github_app_id,
            github_app_installation_id=ci.github_app_installation_id,
            github_app_private_key=required_secret(cfg.github_app_private_key, "githubAppPrivateKey"),
            scale_sets=cfg.runner_scale_sets(),
            runner_image=runner_image,
            push_role=registry.ci_push_role,
            namespace=ci.namespace,
            job_namespace=ci.job_namespace,
            runner_group=ci.runner_group,
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )


def gitlab_runner(stack: Stack, context: ClusterContext, registry: Registry) -> GitlabRunner | None:
    """GitLab runners: a CPU manager and, with a GPU token, a GPU one."""
    cfg, gl = stack.cfg, stack.cfg.ci_runners.gitlab
    if not gl.enabled:
        return None
    return GitlabRunner(
        "gitlab-runner",
        GitlabRunnerArgs(
            gitlab_url=gl.gitlab_url,
            runner_token=required_secret(cfg.gitlab_runner_token, "gitlabRunnerToken"),
            gpu_runner_token=secret(cfg.gitlab_gpu_runner_token) if gl.gpu_concurrent else None,
            namespace=gl.namespace,
            job_namespace=gl.job_namespace,
            concurrent=gl.concurrent,
            gpu_concurrent=gl.gpu_concurrent,
            check_interval_seconds=gl.check_interval_seconds,
            job_image=gl.job_image,
            cpu_job=job_profile(gl.cpu_job),
            gpu_job=job_profile(gl.gpu_job),
            push_repository_arns=push_repository_arns(registry, gl.push_to_registry),
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )


def jenkins(stack: Stack, context: ClusterContext, registry: Registry) -> Jenkins | None:
    """A Jenkins controller with Kubernetes agents."""
    cfg, jk = stack.cfg, stack.cfg.ci_runners.jenkins
    if not jk.enabled:
        return None
    return Jenkins(
        "jenkins",
        JenkinsArgs(
            admin_password=required_secret(cfg.jenkins_admin_password, "jenkinsAdminPassword"),
            namespace=jk.namespace,
            agent_namespace=jk.agent_namespace,
            home_size_gib=jk.home_size_gib,
            controller_cpu=jk.controller_cpu,
            controller_memory=jk.controller_memory,
            max_agents=jk.max_agents,
            agent_idle_minutes=jk.agent_idle_minutes,
            agent_image=jk.agent_image,
            build_image=jk.build_image,
            cpu_job=job_profile(jk.cpu_job),
            gpu_job=job_profile(jk.gpu_job),
            push_repository_arns=push_repository_arns(registry, jk.push_to_registry),
            protect=cfg.protect_stateful_resources,
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )


def circleci_agent(stack: Stack, context: ClusterContext, registry: Registry) -> CircleciAgent | None:
    """The CircleCI container agent for a CPU and, with a token, a GPU resource class."""
    cfg, cc = stack.cfg, stack.cfg.ci_runners.circleci
    if not cc.enabled:
        return None
    return CircleciAgent(
        "circleci",
        CircleciAgentArgs(
            cpu_resource_class=cc.cpu_resource_class,
            cpu_token=required_secret(cfg.circleci_cpu_resource_class_token, "circleciCpuResourceClassToken"),
            gpu_resource_class=cc.gpu_resource_class,
            gpu_token=secret(cfg.circleci_gpu_resource_class_token) if cc.gpu_resource_class else None,
            namespace=cc.namespace,
            max_concurrent_tasks=cc.max_concurrent_tasks,
            cpu_job=job_profile(cc.cpu_job),
            gpu_job=job_profile(cc.gpu_job),
            push_repository_arns=push_repository_arns(registry, cc.push_to_registry),
        ),
        context,
        stack.on_k8s(context.k8s_provider),
    )
