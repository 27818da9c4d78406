"""ClusterContext: what every in-cluster component is told about the cluster it runs in.

The program builds one context after the cluster and its node pools exist and hands the same object to
every in-cluster component as the constructor parameter after its ``…Args``::

    Serving("serving", ServingArgs(...), context, opts)

so each fact about the cluster has one name everywhere: ``k8s_provider`` (never ``provider``),
``system_node_selector`` (never ``node_selector``), ``irsa`` (never the ``Cluster`` object). A component's
``…Args`` keep only what is its own (namespaces, sizes, chart versions, secrets); the context is not a
config model, it carries resources and Outputs.

``needs_nodes`` is the ordering contract of the first deploy into an empty account: every Helm release
whose pods need a node waits for these (tests/stacks/test_release_ordering.py). The controllers that make
nodes themselves (Karpenter, the cluster-autoscaler) and the layer they start (monitoring's CRDs, the GPU
stack) get the context of the system pool; everything after them gets :meth:`ClusterContext.after`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components._common import Irsa


@dataclass(frozen=True)
class ClusterContext:
    """The cluster an in-cluster component deploys into (built once by the program)."""

    cluster_name: str
    """The EKS cluster's name, known before the cluster exists: IAM conditions, discovery tags, queue
    names, metric labels."""
    eks_name: pulumi.Input[str]
    """The same name read from the created EKS cluster (an Output that depends on it): for inputs that
    must not exist before the cluster (an access entry) or that a controller reads at install."""
    kubernetes_version: str
    """The control plane's Kubernetes minor version (``"1.32"``): version-matched images."""
    k8s_provider: pulumi.ProviderResource
    """The Kubernetes provider of the cluster; every Kubernetes and Helm child uses it."""
    irsa: Irsa
    """The cluster's IAM OIDC provider (issuer, ARN) with the stack's permissions boundary and IAM
    path: every IRSA role is made from it."""
    region: str
    """AWS region of the cluster (``AWS_REGION`` of pods that call AWS, ARNs in policies)."""
    account_id: str
    """AWS account of the cluster (ARNs in policies)."""
    vpc_cidr: str
    """The cluster's VPC CIDR: nodes, pods (VPC CNI) and the API server's ENIs get addresses from it, so
    network policies admit kubelet probes, the API server and Prometheus scrapes from it."""
    storage_class_name: str
    """The cluster's default StorageClass (encrypted gp3) for every PersistentVolumeClaim."""
    system_node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node selector of the system pool, where controllers, exporters and servers run (never GPU
    nodes). The system pool carries no taint, so no toleration comes with it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The stack's tags, for AWS resources a component creates itself (IRSA roles, load balancers)."""
    needs_nodes: Sequence[pulumi.Resource] = ()
    """What a release whose pods need a node waits for: CoreDNS and the EBS CSI driver (add-ons), every
    managed node pool and, once it exists, the Karpenter controller that makes GPU nodes."""

    def after(self, *resources: pulumi.Resource | None) -> ClusterContext:
        """This context with ``resources`` (``None`` skipped) appended to ``needs_nodes``."""
        extra = [r for r in resources if r is not None]
        return dataclasses.replace(self, needs_nodes=[*self.needs_nodes, *extra])
