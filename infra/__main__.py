"""The ai-platform program: the platform's table of contents.

``main: infra/`` makes ``infra/`` the program directory: Pulumi's Python language host changes into it
and runs ``runpy.run_path(".")`` (so ``pulumi install`` reads ``infra/requirements.txt``); the offline
preview (``blueprint preview``) runs this file under the SDK's mock engine.

Two layers: the cloud layer (network, roles, cluster, node pools, registry, artifacts, the in-VPC deploy
runner) talks only to AWS APIs; the Kubernetes layer talks to the cluster's API endpoint, which only the
in-VPC runner reaches. ``delivery.kubernetesLayer: false`` deploys the cloud layer alone: the
administrator's first ``up`` of a stack (README, "Deploying for real"; ADR 0008).

Every step lives in ``infra/wiring/`` (config in, one component's ``…Args`` out); an optional add-on's step
returns ``None`` when its config section is not ``enabled``. In-cluster components all take the same
:class:`~components.cluster_context.ClusterContext`, built once below.
"""

from components.cluster_context import ClusterContext
from infra.config import load_config
from infra.wiring import ci, cloud, in_cluster, storage
from infra.wiring.context import cluster_context
from infra.wiring.stack import stack as stack_of

cfg = load_config()
base = stack_of(cfg)

# ----------------------------------------------------------------------------- delivery and network
# The deploy identity comes first: it makes the permissions boundary every IAM role carries (ADR 0007)
# and the roles the cluster's access entries admit.
identity = cloud.deploy_identity(base)
stack = base.with_boundary(cloud.boundary(identity))
network = cloud.network(stack)

# --------------------------------------------------------------------------- EKS cluster and node pools
cluster = cloud.cluster(stack, vpc=network, identity=identity)
cloud.deploy_runner(stack, vpc=network, eks=cluster)
node_pools = cloud.node_pools(stack, vpc=network, eks=cluster)
addons = cloud.cluster_addons(stack, eks=cluster, pools=node_pools)

# --------------------------------------------------------------------------- the cluster context
# The system pool's context: the node-making controllers and the layer they start wait for the managed
# pools and CoreDNS; everything after them also waits for Karpenter (tests/stacks/test_release_ordering.py).
system: ClusterContext = cluster_context(stack, eks=cluster, addons=addons, pools=node_pools)
karpenter = in_cluster.karpenter(stack, context=system)
context: ClusterContext = system.after(karpenter)

# --------------------------------------------------------------------------- registry, artifacts, audit
registry = storage.registry(stack, eks=cluster, karpenter=karpenter)
artifacts = storage.artifacts(stack)
storage.audit(stack, bucket=artifacts)
storage.dvc(stack, bucket=artifacts, identity=identity)
runner_image = storage.runner_image(stack, reg=registry)

# --------------------------------------------------------------------------- Kubernetes layer (ADR 0008)
if cfg.delivery.kubernetes_layer:
    in_cluster.cluster_autoscaler(stack, context=system)
    # Monitoring first: its CRD release gates every ServiceMonitor and PrometheusRule; then the GPU stack.
    monitoring = in_cluster.monitoring(stack, context=system)
    in_cluster.gpu_stack(stack, context=system, prometheus=monitoring)

    # Workloads: ingress, serving, drift evaluation.
    ingress = in_cluster.ingress_controller(stack, context=context, vpc=network)
    in_cluster.serving(
        stack, context=context, registry=registry, artifacts=artifacts, prometheus=monitoring, ingress=ingress
    )
    in_cluster.drift(stack, context=context, registry=registry, artifacts=artifacts, prometheus=monitoring)

    # CI backends.
    github = ci.github_runners(stack, context=context, registry=registry, runner_image=runner_image)
    ci.gitlab_runner(stack, context=context, registry=registry)
    ci.jenkins(stack, context=context, registry=registry)
    ci.circleci_agent(stack, context=context, registry=registry)

    # ML lifecycle: MLflow (its clients' namespaces must exist for their egress allows).
    in_cluster.mlflow(stack, context=context, vpc=network, eks=cluster, artifacts=artifacts, github_runners=github)
