"""GpuStack: the in-cluster NVIDIA software that turns GPU nodes into schedulable ``nvidia.com/gpu``.

Provisions (on the cluster's explicit Kubernetes provider):
- the ``gpu-system`` namespace (Pod Security ``privileged``: the daemons mount kubelet and host paths);
- one of two stacks, chosen by ``stack``:
  - ``device-plugin``: NVIDIA's k8s-device-plugin chart, without GFD/NFD;
  - ``gpu-operator``: NVIDIA's GPU operator with driver and container toolkit disabled (the EKS
    NVIDIA AMIs ship both), its device plugin configured like the standalone one, MIG manager
    optional, its own DCGM exporter off;
  with optional time-slicing (one GPU shared by N pods) and a MIG strategy;
- the DCGM exporter (standalone chart, in both stacks) with a ServiceMonitor, pod attribution,
  memory sized for 8-GPU nodes and a counters list that includes XID errors and throttling.

Every GPU daemon tolerates the ``nvidia.com/gpu`` taint and runs only on nodes labelled
``platform.ai/accelerator=nvidia``. The device plugin additionally skips Bottlerocket nodes
(``platform.ai/ami-family=bottlerocket``): the Bottlerocket NVIDIA variants run NVIDIA's device
plugin as a host service, and a second one would fight over the same kubelet socket
(EKS user guide "Install Kubernetes device plugin for GPUs", awsdocs/amazon-eks-user-guide PR #1143;
bottlerocket QUICKSTART-EKS.md). Time-slicing on Bottlerocket is a node setting
(``settings.kubelet-device-plugins.nvidia.time-slicing``), owned by the node pool, not this chart.

Why the standalone DCGM exporter also under the GPU operator: one set of values (memory, counters,
pod labels, relabelling, affinity) and one dashboard/rule contract whatever the stack, and its
ServiceMonitor waits for the prometheus-operator CRDs like every other CR here. The operator's
``dcgmExporter`` can set neither node affinity nor metric relabelling.

Outputs: ``namespace``, ``device_plugin`` (the release that advertises GPUs), ``dcgm_exporter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import _contracts
from components._helm import Chart, helm_release
from components._k8s import (
    agent_resources,
    default_deny,
    dns_egress,
    from_namespace,
    namespace,
    network_policy,
    tcp_egress,
    with_provider,
)
from components.cluster_context import ClusterContext
from components.vocabulary import GPU_RESOURCE, GPU_TAINT_KEY, LABEL_ACCELERATOR, LABEL_AMI_FAMILY

# The dcgm-exporter chart serves metrics on 9400 (its values.yaml `service.port`).
DCGM_PORT = 9400

# Versions from the charts' Chart.yaml at their release tags (values keys checked against each values.yaml):
# NVIDIA/k8s-device-plugin v0.20.0, NVIDIA/gpu-operator v26.7.0 (NGC versions carry the "v"),
# NVIDIA/dcgm-exporter chart 4.8.2 (image 4.5.3-4.8.2-distroless).
DEVICE_PLUGIN_CHART = Chart("nvidia-device-plugin", "0.20.0", "https://nvidia.github.io/k8s-device-plugin")
GPU_OPERATOR_CHART = Chart("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia")
DCGM_EXPORTER_CHART = Chart("dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts")

# The DCGM fields the dashboards and alert rules (components/rules/gpu.yaml) rely on. The chart's
# default list has no throttling counters; XID stays a gauge of the *last* XID (it never resets,
# dcgm-exporter#500), so the rules alert on its changes.
DCGM_COUNTERS = """\
# DCGM field, Prometheus type, help (dcgm-exporter counters CSV format)
DCGM_FI_DEV_GPU_UTIL, gauge, GPU utilization (in %).
DCGM_FI_DEV_MEM_COPY_UTIL, gauge, Memory utilization (in %).
DCGM_FI_DEV_FB_FREE, gauge, Framebuffer memory free (in MiB).
DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB).
DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature (in C).
DCGM_FI_DEV_MEMORY_TEMP, gauge, Memory temperature (in C).
DCGM_FI_DEV_POWER_USAGE, gauge, Power draw (in W).
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, counter, Total energy consumption since boot (in mJ).
DCGM_FI_DEV_SM_CLOCK, gauge, SM clock frequency (in MHz).
DCGM_FI_DEV_MEM_CLOCK, gauge, Memory clock frequency (in MHz).
DCGM_FI_DEV_XID_ERRORS, gauge, Value of the last XID error encountered.
DCGM_FI_DEV_POWER_VIOLATION, counter, Throttling duration due to power constraints (in us).
DCGM_FI_DEV_THERMAL_VIOLATION, counter, Throttling duration due to thermal constraints (in us).
DCGM_FI_DEV_PCIE_REPLAY_COUNTER, counter, Total number of PCIe retries.
DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS, counter, Number of remapped rows for uncorrectable errors.
DCGM_FI_DEV_ROW_REMAP_FAILURE, gauge, Whether remapping of rows has failed.
DCGM_FI_PROF_GR_ENGINE_ACTIVE, gauge, Ratio of time the graphics engine is active.
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE, gauge, Ratio of cycles the tensor (HMMA) pipe is active.
DCGM_FI_PROF_DRAM_ACTIVE, gauge, Ratio of cycles the device memory interface is active.
DCGM_FI_DRIVER_VERSION, label, Driver version.
"""

# dcgm-exporter 4.8.2 pods (templates/_helpers.tpl selector labels; container port "metrics").
DCGM_POD_LABELS = {"app.kubernetes.io/name": "dcgm-exporter"}
# Labels on every DCGM series once scraped: the exporter's own (gpu, UUID, pci_bus_id, device, modelName,
# Hostname, and DCGM_FI_DRIVER_VERSION as a label field), pod attribution (pod, namespace, container for a
# GPU a pod holds) and the `node` relabelling in dcgm_exporter_values.
DCGM_LABELS = (
    "gpu",
    "UUID",
    "pci_bus_id",
    "device",
    "modelName",
    "Hostname",
    "DCGM_FI_DRIVER_VERSION",
    "pod",
    "namespace",
    "container",
    "node",
    "err_code",
    "err_msg",
)


def dcgm_metrics() -> dict[str, tuple[str, ...]]:
    """The DCGM exporter's series: every field of DCGM_COUNTERS that is not a label field (all carry DCGM_LABELS)."""
    rows = [line.split(",") for line in DCGM_COUNTERS.splitlines() if line and not line.startswith("#")]
    return {row[0].strip(): () for row in rows if row[1].strip() != "label"}


def gpu_contracts(namespace: str) -> dict[str, Any]:
    """Flows of the GPU daemons and the DCGM exporter's metric contract (components/_contracts.py)."""
    dcgm = _contracts.pods(namespace, DCGM_POD_LABELS)
    flows = [
        *_contracts.dns(namespace, what="GPU daemons"),
        _contracts.Flow(
            "Prometheus -> DCGM exporter", _contracts.ref("prometheus"), dcgm, DCGM_PORT, port_name="metrics"
        ),
        _contracts.Flow("GPU daemons -> API server", _contracts.pods(namespace, {}), _contracts.vpc(), 443),
    ]
    return _contracts.declare(
        flows=flows, metrics=[_contracts.Series("DCGM exporter", dcgm_metrics(), labels=DCGM_LABELS)]
    )


GPU_TOLERATIONS: list[dict[str, str]] = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
"""Tolerate the GPU pools' taint (any value), and nothing broader: a blanket ``operator: Exists``
would also keep the daemons on nodes being drained."""


def gpu_node_affinity(*, exclude_bottlerocket: bool) -> dict[str, Any]:
    """Required node affinity: GPU nodes only, and optionally not the Bottlerocket ones.

    ``NotIn`` also matches nodes without the label, so AL2023 pools need no extra label. Setting
    ``affinity`` replaces the device-plugin chart's default, which requires NFD labels
    (``feature.node.kubernetes.io/pci-10de.present``) this platform does not run.
    """
    exprs: list[dict[str, Any]] = [{"key": LABEL_ACCELERATOR, "operator": "In", "values": ["nvidia"]}]
    if exclude_bottlerocket:
        exprs.append({"key": LABEL_AMI_FAMILY, "operator": "NotIn", "values": ["bottlerocket"]})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}
        }
    }


def device_plugin_config(mig_strategy: str, time_slicing_replicas: int | None) -> str:
    """The device plugin's config file (``version: v1``), README "Shared Access to GPUs"."""
    doc: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": mig_strategy}}
    if time_slicing_replicas:
        doc["sharing"] = {
            "timeSlicing": {
                # Keep advertising nvidia.com/gpu (not nvidia.com/gpu.shared) so workloads need no change.
                "renameByDefault": False,
                # A pod asking for 2 shared "GPUs" would get no more compute than 1; refuse it loudly.
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": GPU_RESOURCE, "replicas": time_slicing_replicas}],
            }
        }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class GpuStackArgs:
    """Inputs of :class:`GpuStack`; the cluster (its Kubernetes provider) comes as its :class:`ClusterContext`."""

    stack: Literal["device-plugin", "gpu-operator"] = "device-plugin"
    """``device-plugin`` (default: small, what the EKS AL2023 NVIDIA AMIs need) or ``gpu-operator``."""
    time_slicing_replicas: int | None = None
    """Share each GPU among this many pods; None (default) gives each pod whole GPUs."""
    mig_strategy: Literal["none", "single", "mixed"] = "none"
    """MIG strategy the device plugin advertises (``none`` by default)."""
    mig_manager: bool = False
    """Run the GPU operator's MIG manager (``gpu-operator`` only; off by default)."""
    dcgm_memory_limit_mib: int = 1024
    """DCGM exporter memory limit; the request stays at 512Mi. 512Mi limits OOM on 8-GPU nodes (pytorch/ci-infra#1011)."""
    namespace: str = "gpu-system"
    """Namespace of the GPU daemons."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus scrapes the DCGM exporter; nothing else may reach the daemons."""
    monitoring_crds: pulumi.Resource | None = None
    """The prometheus-operator CRD release: the DCGM exporter's ServiceMonitor needs its kind
    (pulumi-kubernetes#1712), and it waits for the system pool."""


def check(args: GpuStackArgs) -> None:
    """Refuse combinations the device plugin or the operator cannot run."""
    if args.mig_manager and args.stack != "gpu-operator":
        raise ValueError("mig_manager needs stack='gpu-operator'")
    if args.time_slicing_replicas is not None and args.time_slicing_replicas < 2:
        raise ValueError("time_slicing_replicas must be at least 2 (or None for whole GPUs)")
    if args.time_slicing_replicas and args.mig_strategy != "none":
        raise ValueError("time-slicing and MIG cannot be combined; set mig_strategy='none'")


class GpuStack(pulumi.ComponentResource):
    """NVIDIA device plugin (or GPU operator) and DCGM exporter, on GPU nodes only."""

    namespace: pulumi.Output[str]
    device_plugin: k8s.helm.v3.Release
    dcgm_exporter: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: GpuStackArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        check(args)
        props = gpu_contracts(args.namespace)
        super().__init__("platform:index:GpuStack", name, props, with_provider(opts, context.k8s_provider))
        ns = namespace(f"{name}-namespace", args.namespace, parent=self, enforce="privileged")
        # Default deny; Prometheus may scrape the DCGM exporter, and the daemons reach DNS and the
        # API server (device-plugin config manager, operator, NFD). Kubelet traffic from the pod's
        # own node (the device-plugin socket is a hostPath, not the network) is never blocked.
        default_deny(f"{name}-default-deny", ns, parent=self)
        network_policy(
            f"{name}-allow",
            ns,
            "allow-scrape-dns-apiserver",
            parent=self,
            ingress=[from_namespace(args.monitoring_namespace, DCGM_PORT)],
            egress=[dns_egress(), tcp_egress(443)],
        )
        # Every release waits for nodes and CoreDNS (the operator and NFD run Deployments on the system pool);
        # the DCGM exporter also waits for the monitoring CRDs (its ServiceMonitor).
        nodes = [ns, *context.needs_nodes]
        after = [*nodes, *([args.monitoring_crds] if args.monitoring_crds else [])]
        plugin_config = device_plugin_config(args.mig_strategy, args.time_slicing_replicas)

        if args.stack == "device-plugin":
            self.device_plugin = helm_release(
                f"{name}-device-plugin",
                "nvidia-device-plugin",
                DEVICE_PLUGIN_CHART,
                args.namespace,
                device_plugin_values(plugin_config),
                parent=self,
                depends_on=nodes,
            )
        else:
            self.device_plugin = helm_release(
                f"{name}-gpu-operator",
                "gpu-operator",
                GPU_OPERATOR_CHART,
                args.namespace,
                gpu_operator_values(plugin_config, args.mig_strategy, args.mig_manager),
                parent=self,
                depends_on=nodes,
            )

        self.dcgm_exporter = helm_release(
            f"{name}-dcgm-exporter",
            "dcgm-exporter",
            DCGM_EXPORTER_CHART,
            args.namespace,
            dcgm_exporter_values(args.dcgm_memory_limit_mib),
            parent=self,
            depends_on=after,
        )
        self.namespace = ns.metadata.name
        self.register_outputs(
            {"namespace": self.namespace, "device_plugin": self.device_plugin, "dcgm_exporter": self.dcgm_exporter}
        )


def device_plugin_values(plugin_config: str) -> dict[str, Any]:
    """Values of the nvidia-device-plugin chart (keys checked against its 0.20.0 values.yaml)."""
    return {
        # One named config, always: it carries the MIG strategy and the optional time-slicing.
        "config": {"map": {"default": plugin_config}, "default": "default"},
        "affinity": gpu_node_affinity(exclude_bottlerocket=True),
        "tolerations": GPU_TOLERATIONS,
        # GFD would pull in NFD (chart condition "nfd.enabled,gfd.enabled"); node labels come from the node pools.
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
        "priorityClassName": "system-node-critical",
        "resources": agent_resources("50m", "64Mi", "256Mi"),
    }


def gpu_operator_values(plugin_config: str, mig_strategy: str, mig_manager: bool) -> dict[str, Any]:
    """Values of the gpu-operator chart (keys checked against its v26.7.0 values.yaml)."""
    return {
        # The EKS AL2023 NVIDIA AMIs ship the driver and the container toolkit; the operator cannot
        # manage drivers on Amazon Linux (NVIDIA/gpu-operator#666, #686).
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "devicePlugin": {
            "enabled": True,
            # The operator's shape differs from the standalone chart: create/name/default/data.
            "config": {
                "create": True,
                "name": "device-plugin-config",
                "default": "default",
                "data": {"default": plugin_config},
            },
            "resources": agent_resources("50m", "64Mi", "256Mi"),
        },
        "mig": {"strategy": mig_strategy if mig_strategy != "none" else "single"},
        "migManager": {"enabled": mig_manager},
        # The standalone dcgm-exporter release is the one exporter (see the module docstring).
        "dcgmExporter": {"enabled": False},
        "daemonsets": {"tolerations": GPU_TOLERATIONS, "priorityClassName": "system-node-critical"},
        "operator": {"resources": agent_resources("200m", "256Mi", "512Mi")},
        # The operator places its operands on nodes NFD labels with an NVIDIA PCI device. Running NFD's
        # workers only on non-Bottlerocket GPU nodes keeps the operator away from Bottlerocket, whose
        # host already runs the device plugin, and off every CPU node.
        "nfd": {"enabled": True},
        "node-feature-discovery": {
            "worker": {
                "affinity": gpu_node_affinity(exclude_bottlerocket=True),
                "tolerations": GPU_TOLERATIONS,
                "resources": agent_resources("5m", "64Mi", "256Mi"),
            },
            "master": {"resources": agent_resources("10m", "128Mi", "512Mi")},
            "gc": {"resources": agent_resources("10m", "64Mi", "256Mi")},
        },
    }


def dcgm_exporter_values(memory_limit_mib: int) -> dict[str, Any]:
    """Values of the dcgm-exporter chart (keys checked against its 4.8.2 values.yaml)."""
    return {
        "customMetrics": DCGM_COUNTERS,
        # 512Mi request, limit from config: the chart's 512Mi *limit* is OOM-killed on 8-GPU nodes
        # (pytorch/ci-infra#1011, dcgm-exporter#609, #702).
        "resources": agent_resources("100m", "512Mi", f"{memory_limit_mib}Mi"),
        # DCGM runs on Bottlerocket GPU nodes too (bottlerocket QUICKSTART-EKS.md), so no exclusion here.
        "affinity": gpu_node_affinity(exclude_bottlerocket=False),
        "tolerations": GPU_TOLERATIONS,
        # Pod attribution: the chart always maps GPUs to pods via the kubelet pod-resources API
        # (pod/namespace/container labels); pod labels add the workload's own labels (e.g. the model).
        "kubernetes": {"enablePodLabels": True, "enablePodUID": False, "rbac": {"create": True}},
        "serviceMonitor": {
            "enabled": True,
            "interval": "15s",
            "scrapeTimeout": "10s",
            "honorLabels": False,
            # The scrape target's own pod/namespace win over the GPU's workload labels and push those to
            # exported_pod/exported_namespace (the "pod labels missing" reports, dcgm-exporter#138, #342).
            # Restore the workload's names and keep the node name for joins with kube-state-metrics.
            "relabelings": [
                {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}
            ],
            "metricRelabelings": [
                *(
                    {"sourceLabels": [f"exported_{label}"], "targetLabel": label, "action": "replace"}
                    for label in ("pod", "namespace", "container")
                ),
                {"action": "labeldrop", "regex": "exported_(pod|namespace|container)"},
            ],
        },
        "priorityClassName": "system-node-critical",
    }
