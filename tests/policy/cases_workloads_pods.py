"""Fixture rows of the policies in policy/ai_platform_policies/workloads/pods.py, registered into CASES."""

from __future__ import annotations

from typing import Any

from tests.policy.cases_common import (
    GOOD,
    case,
    container,
    dep,
    deployment,
    pod,
    without,
)


def with_sc(**sc: Any) -> dict[str, Any]:
    c = container()
    c["securityContext"] = {**c["securityContext"], **sc}
    return c


def sc_without(key: str) -> dict[str, Any]:
    c = container()
    c["securityContext"] = without(c["securityContext"], key)
    return c


case(
    "k8s-pod-no-privileged",
    GOOD,
    dep(deployment(pod(with_sc(privileged=True)))),
    "remove securityContext.privileged",
    dep(deployment(pod(container(securityContext={})))),
    False,
)
case(
    "k8s-pod-no-host-namespaces",
    GOOD,
    dep(deployment(pod(hostNetwork=True))),
    "shares the node's hostNetwork: remove hostNetwork",
    dep(deployment(without(pod(), "securityContext"))),
    False,
)
HOSTPATH_POD = pod(
    container(volumeMounts=[{"name": "h", "mountPath": "/h"}]),
    volumes=[{"name": "h", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
)
case(
    "k8s-pod-no-host-path",
    dep(deployment(pod(volumes=[{"name": "cache", "emptyDir": {}}]))),
    dep(deployment(HOSTPATH_POD)),
    "use a PVC/emptyDir, or add a narrow exemption",
    dep(deployment(pod(volumes=[{"name": "h"}]))),
    False,
)
case(
    "k8s-pod-no-host-port",
    GOOD,
    dep(deployment(pod(container(ports=[{"containerPort": 80.0, "hostPort": 80.0}])))),
    "expose it through a Service",
    dep(deployment(pod(container(ports=[{}])))),
    False,
)
case(
    "k8s-container-capabilities-restricted",
    GOOD,
    dep(deployment(pod(with_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})))),
    "add only NET_BIND_SERVICE",
    dep(deployment(pod(sc_without("capabilities")))),
    True,
)
case(
    "k8s-container-no-privilege-escalation",
    GOOD,
    dep(deployment(pod(with_sc(allowPrivilegeEscalation=True)))),
    "securityContext.allowPrivilegeEscalation: false",
    dep(deployment(pod(sc_without("allowPrivilegeEscalation")))),
    True,
)
case(
    "k8s-pod-run-as-non-root",
    GOOD,
    dep(deployment(pod(with_sc(runAsUser=0.0)))),
    "set securityContext.runAsNonRoot: true",
    dep(deployment(pod(sc_without("runAsNonRoot")))),
    True,
)
case(
    "k8s-pod-seccomp-runtime-default",
    GOOD,
    dep(deployment(pod(securityContext={"seccompProfile": {"type": "Unconfined"}}))),
    "seccompProfile.type: RuntimeDefault",
    dep(deployment(without(pod(), "securityContext"))),
    True,
)
case(
    "k8s-container-read-only-root-fs",
    GOOD,
    dep(deployment(pod(with_sc(readOnlyRootFilesystem=False)))),
    "set securityContext.readOnlyRootFilesystem: true",
    dep(deployment(pod(sc_without("readOnlyRootFilesystem")))),
    True,
)
case(
    "k8s-pod-dedicated-service-account",
    GOOD,
    dep(deployment(pod(serviceAccountName="default"))),
    "create a dedicated ServiceAccount",
    dep(deployment(without(pod(), "serviceAccountName"))),
    True,
)
case(
    "k8s-pod-no-automount-token",
    GOOD,
    dep(deployment(pod(automountServiceAccountToken=True))),
    "set automountServiceAccountToken: false",
    dep(deployment(without(pod(), "automountServiceAccountToken"))),
    True,
)
case(
    "k8s-container-secrets-as-files",
    GOOD,
    dep(
        deployment(
            pod(container(env=[{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]))
        )
    ),
    "mount the Secret as a read-only volume",
    dep(deployment(pod(container(env=[{"name": "X"}])))),
    False,
)
