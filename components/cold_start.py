"""A GPU model's cold start, estimated once from data, and the waits that follow from it.

One pure function (:func:`estimate`) behind two consumers that must agree:
- the serving component sizes each model's startup probe (:func:`startup_budget_seconds`) and its
  deploy await, the ``pulumi.com/timeoutSeconds`` annotation (:func:`deploy_timeout_seconds`);
- the preview's cold-start analysis (blueprint/preview/analyses/cold_start.py) shows the estimate per model
  with its breakdown and checks the probe and the await against it.

Parts (seconds, each a typical value from a public measurement or a stated assumption, ``source``):
``activation`` (KEDA polling or HPA sync), ``nodeProvisioning`` + ``devicePlugin`` (only when no
node is up: provisioner reaction plus launch-to-Ready of the instance family), ``preemption`` (a
warm spare gives way instead), ``imagePull`` (by pull path: ``plain``, ``lazy`` = SOCI parallel
pull, ``cached`` = pre-pulled data-volume snapshot), ``weightsCopy``/``weightsLoad`` (by load path:
``copy-then-start``, ``streaming``, ``pvc``, ``in-image``) and ``serverInit``.

Margins (docs/adr/0012, "Cold-start budget"): the numbers are typical, not worst cases, so
- the startup probe allows ``PROBE_MARGIN`` x the load and server start it covers, at least
  ``PROBE_FLOOR_SECONDS``: a probe that is too short restarts the container forever, while one
  that is too long only detects a hung start later;
- the deploy await allows ``TIMEOUT_MARGIN`` x a rollout that starts from an empty GPU pool (no
  warm spare, the slowest GPU node path of the stack) and then starts every replica in turn,
  capped by the caller at what a deploy job can wait.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

PullPath = Literal["plain", "lazy", "cached"]
LoadPath = Literal["streaming", "copy-then-start", "pvc", "in-image"]


@dataclass(frozen=True)
class Duration:
    """Seconds, and where the number comes from."""

    seconds: float
    source: str


PROVISIONER_REACTION: dict[str, Duration] = {
    "cluster-autoscaler": Duration(
        40,
        "scan-interval 10 s (cluster-autoscaler FAQ default) plus the ASG SetDesiredCapacity/RunInstances round trip (assumption ~30 s)",
    ),
    "karpenter": Duration(
        10, "Karpenter batches pending pods for 1-10 s before launching (batchIdleDuration/batchMaxDuration defaults)"
    ),
}

# Instance launch to kubelet Ready, by family (GPU families boot slower).
NODE_READY: dict[str, Duration] = {
    "cpu": Duration(
        75,
        "Karpenter ~30-40 s to Ready on Bottlerocket; ~70-80 s instance to registration on other AMIs (aws/karpenter-provider-aws#6165, #6128; awslabs/amazon-eks-ami#1099)",
    ),
    "g": Duration(
        150,
        "'GPU instance types often take much longer to boot' (awslabs/amazon-eks-ami#1099); assumption 2.5 min for g4dn/g5/g6/g6e",
    ),
    "p": Duration(300, "assumption: 8-GPU p4d/p5 hosts, driver and fabric initialisation"),
}

DEVICE_PLUGIN = Duration(
    90,
    "GPUs appear as allocatable ~90 s after the node is up, when the device plugin registers (NVIDIA/k8s-device-plugin#291)",
)

# Seconds per GiB of (compressed) image by pull path, plus a fixed floor.
IMAGE_PULL_S_PER_GIB: dict[str, Duration] = {
    "plain": Duration(
        38,
        "PyTorch NGC image 9.5 GB compressed pulled uncached in 334 s (terraform-aws-eks-blueprints patterns/ml-container-cache/README.md)",
    ),
    "lazy": Duration(
        19,
        "SOCI parallel pull: assumption of half the plain time (AWS Containers blog, 'Introducing Seekable OCI Parallel Pull Mode for Amazon EKS')",
    ),
    "cached": Duration(0, "image pre-pulled on an EBS snapshot: < 5 s regardless of size (same README)"),
}
IMAGE_PULL_FLOOR = Duration(5, "cached pull of the same image (patterns/ml-container-cache/README.md)")

S3_COPY_MIBPS = Duration(
    500,
    "assumption: aws s3 sync with its 10 concurrent requests inside one pod; the volume's throughput usually binds first",
)
# gp3's baseline throughput when a volume sets none (EBS User Guide, "General Purpose SSD volumes").
DEFAULT_VOLUME_MIBPS = 125.0
STREAM_S_PER_GIB = Duration(2, "assumption: a streaming loader (e.g. Run:ai Model Streamer) from S3 at ~0.5 GiB/s")
GPU_LOAD_S_PER_GIB = Duration(1, "assumption: safetensors from the page cache into GPU memory at ~1 GiB/s")
SERVER_INIT = Duration(
    60, "assumption: vLLM engine start, KV-cache profiling and CUDA graph capture for a single-GPU model"
)
PREEMPTION = Duration(
    5,
    "assumption: the scheduler preempts a lower-priority placeholder with terminationGracePeriodSeconds 0 and binds the "
    "pod in its next cycle (Kubernetes docs, 'Pod Priority and Preemption')",
)
HPA_SYNC = Duration(
    15,
    "HorizontalPodAutoscaler sync period default 15 s (kube-controller-manager --horizontal-pod-autoscaler-sync-period)",
)

PROBE_MARGIN = 3.0
# The floor covers a first start slower than the estimate's assumptions: vLLM's V1 engine compiles the model
# (CPU-bound on a few vCPUs) and captures CUDA graphs before it reports healthy, which can take minutes on a
# cold node. A probe that is too short restarts the container and starts that work over; one that is too
# long only reports a hung start later, so the floor errs long.
PROBE_FLOOR_SECONDS = 600
TIMEOUT_MARGIN = 2.0
# Without the sizes there is no estimate: the probe keeps the platform's former default, and the await
# the longest a deploy job allows (the caller's cap).
UNDECLARED_PROBE_SECONDS = 1200


@dataclass(frozen=True)
class NodePath:
    """How a GPU node for a model comes to exist: one GPU pool of the stack, as far as timing goes."""

    name: str
    """The pool (node group or Karpenter NodePool)."""
    instance_family: str
    """Family of its first instance type (``g5``): the boot time by family."""
    provisioner: str | None
    """``karpenter``, ``cluster-autoscaler``, or None when nothing scales the pool up."""
    image_pull: PullPath = "plain"
    """``plain``, ``lazy`` (SOCI parallel pull) or ``cached`` (pre-pulled data-volume snapshot)."""
    warm: bool = False
    """A node always runs (``minSize`` > 0): no provisioning for the first replica."""
    volume_mibps: float = DEFAULT_VOLUME_MIBPS
    """Throughput of the node volume the weights are copied to."""


# When the stack's GPU pools are unknown: the slowest path, so the waits err long.
UNKNOWN_NODE = NodePath("unknown", "p", "cluster-autoscaler")


@dataclass(frozen=True)
class ColdStartInputs:
    """What a model's cold start depends on."""

    image_size_gib: float | None
    """Compressed image size (``imageSizeGiB``); None counts only the pull floor."""
    weights_size_gib: float | None
    """Weights size (``weightsSizeGiB``); None counts no load time."""
    load: LoadPath
    """How the weights reach the GPU."""
    node: NodePath | None
    """The GPU pool the replica lands on; None: no pool matches (the pod stays Pending)."""
    activation_seconds: float = HPA_SYNC.seconds
    """From demand to a new replica: KEDA's pollingInterval or the HPA sync period."""
    warm_spare: str | None = None
    """A warm-spare placeholder holding a node with the image pulled (its name), if any."""


@dataclass(frozen=True)
class ColdStart:
    """An estimate: parts in seconds and the paths that chose them."""

    parts: Mapping[str, float]
    paths: Mapping[str, str] = field(default_factory=dict)

    undeclared: tuple[str, ...] = ()
    """Sizes the estimate needed but did not get (``imageSizeGiB``, ``weightsSizeGiB``): counted as 0."""

    @property
    def seconds(self) -> float:
        """Zero replicas to Ready."""
        return sum(self.parts.values())

    @property
    def probe_covered_seconds(self) -> float:
        """What the startup probe waits for: it starts with the server container (load and init only)."""
        return self.parts.get("weightsLoad", 0.0) + self.parts.get("serverInit", 0.0)

    @property
    def pod_start_seconds(self) -> float:
        """One replica on a node that is already up: pull, copy, load and init."""
        keys = ("imagePull", "weightsCopy", "weightsLoad", "serverInit")
        return sum(self.parts.get(k, 0.0) for k in keys)


def load_path(streams: bool, copies: bool, pvc: bool) -> LoadPath:
    """The load path from how the pod gets its weights (streaming wins, as in the pod spec)."""
    return "streaming" if streams else "copy-then-start" if copies else "pvc" if pvc else "in-image"


def node_boot(node: NodePath) -> dict[str, float]:
    """Provisioning plus device-plugin seconds for a node from zero (infinite without a provisioner)."""
    family = node.instance_family
    boot = NODE_READY["p" if family.startswith("p") else "g" if family.startswith("g") else "cpu"]
    react = PROVISIONER_REACTION.get(node.provisioner or "", Duration(math.inf, "no provisioner"))
    return {"nodeProvisioning": react.seconds + boot.seconds, "devicePlugin": DEVICE_PLUGIN.seconds}


def _load_parts(i: ColdStartInputs, volume_mibps: float) -> dict[str, float]:
    weights = i.weights_size_gib
    if weights is None or i.load == "in-image":
        return {"weightsLoad": (weights or 0) * GPU_LOAD_S_PER_GIB.seconds}
    if i.load == "streaming":
        return {"weightsLoad": weights * STREAM_S_PER_GIB.seconds}
    if i.load == "pvc":
        return {"weightsLoad": weights * 1024 / DEFAULT_VOLUME_MIBPS + weights * GPU_LOAD_S_PER_GIB.seconds}
    mibps = min(volume_mibps, S3_COPY_MIBPS.seconds)
    return {"weightsCopy": weights * 1024 / mibps, "weightsLoad": weights * GPU_LOAD_S_PER_GIB.seconds}


def estimate(i: ColdStartInputs) -> ColdStart:
    """Zero replicas to Ready for one model, part by part."""
    parts: dict[str, float] = {"activation": i.activation_seconds}
    node = i.node
    paths: dict[str, str] = {"load": i.load}
    if i.warm_spare:
        # The new pod preempts the placeholder (grace period 0) on a node that has the image.
        parts["preemption"] = PREEMPTION.seconds
        paths["provisioner"] = f"none needed: warm spare {i.warm_spare} holds a node"
    elif node is None:
        paths["nodeGroup"] = "none matches the pod's node affinity"
    elif node.warm:
        paths["provisioner"] = "none needed: the node group keeps a node (minSize > 0)"
    else:
        parts.update(node_boot(node))
        paths["provisioner"] = node.provisioner or "none in the plan"
    pull: PullPath = "cached" if i.warm_spare else node.image_pull if node else "plain"
    paths["pull"] = pull
    parts["imagePull"] = IMAGE_PULL_FLOOR.seconds + (i.image_size_gib or 0) * IMAGE_PULL_S_PER_GIB[pull].seconds
    parts.update(_load_parts(i, node.volume_mibps if node else DEFAULT_VOLUME_MIBPS))
    parts["serverInit"] = SERVER_INIT.seconds
    sizes = (("imageSizeGiB", i.image_size_gib), ("weightsSizeGiB", i.weights_size_gib))
    undeclared = tuple(k for k, v in sizes if v is None and not (k == "weightsSizeGiB" and i.load == "in-image"))
    return ColdStart(parts, paths, undeclared)


def startup_budget_seconds(cs: ColdStart, period_seconds: int) -> int:
    """The startup probe's budget: ``PROBE_MARGIN`` x load and init, at least the floor, whole periods
    (``UNDECLARED_PROBE_SECONDS`` when the weights size is unknown)."""
    if "weightsSizeGiB" in cs.undeclared:
        return UNDECLARED_PROBE_SECONDS
    wanted = max(PROBE_FLOOR_SECONDS, PROBE_MARGIN * cs.probe_covered_seconds)
    return math.ceil(wanted / period_seconds) * period_seconds


def rollout_seconds(
    i: ColdStartInputs, nodes: Sequence[NodePath], replicas: int, probe_budget: float | None = None
) -> float:
    """A rollout from an empty GPU pool: the slowest node path, no warm spare, then one pod start per
    further replica (``replace`` rollouts start pods one after another). An explicit probe budget above
    the estimate counts instead of the estimated load and init."""
    worst = 0.0
    for node in nodes or [UNKNOWN_NODE]:
        cold = estimate(ColdStartInputs(i.image_size_gib, i.weights_size_gib, i.load, node, 0.0))
        boot = sum(node_boot(node).values())
        pod = cold.pod_start_seconds + max(0.0, (probe_budget or 0) - cold.probe_covered_seconds)
        worst = max(worst, boot + pod * max(1, replicas))
    return worst


def deploy_timeout_seconds(
    i: ColdStartInputs, nodes: Sequence[NodePath], replicas: int, cap: int, probe_budget: float | None = None
) -> int:
    """``pulumi.com/timeoutSeconds``: ``TIMEOUT_MARGIN`` x :func:`rollout_seconds`, capped at ``cap``
    (``cap`` itself when a size is unknown or no provisioner brings a node)."""
    rollout = rollout_seconds(i, nodes, replicas, probe_budget)
    if estimate(i).undeclared or not math.isfinite(rollout):
        return cap
    return min(cap, math.ceil(TIMEOUT_MARGIN * rollout))
