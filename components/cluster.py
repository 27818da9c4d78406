"""Cluster: the EKS control plane, its identity plumbing and the add-ons nodes need to join.

Provisions:
- the cluster IAM role (``AmazonEKSClusterPolicy`` only);
- a customer-managed KMS key (rotating, with a key policy) for secrets envelope encryption and
  the control-plane log group;
- the control-plane log group ``/aws/eks/<name>/cluster`` with a retention, created *before*
  the cluster so EKS never creates an unmanaged one;
- the EKS cluster on the private subnets: private endpoint always on, public endpoint only with a
  CIDR allowlist, all five log types, ``authentication_mode=API`` with no implicit admin for the
  creator, the configured support policy (``STANDARD`` or ``EXTENDED``), deletion protection when ``protect`` is set;
- an access entry plus a cluster-scoped ``AmazonEKSClusterAdminPolicy`` association per admin role;
- the IAM OIDC provider for IRSA;
- the node role shared by every node pool (worker policy, ECR pull-only and SSM core; no CNI
  permissions, they belong to the vpc-cni add-on's own IRSA role);
- the add-ons that must exist before nodes join: vpc-cni (network policy enabled, own IRSA role),
  kube-proxy and eks-pod-identity-agent;
- an explicit ``pulumi_kubernetes.Provider`` (kubeconfig whose exec user runs
  ``aws eks get-token``), which waits for the admin access entries. Whoever runs Pulumi needs
  the AWS CLI, credentials for one of the admin roles, and (with a private-only endpoint, as in
  prod) a network path into the VPC, e.g. a CI runner inside it;
- the ``gp3-encrypted`` StorageClass (EBS CSI, encrypted gp3), annotated as the default class.

:class:`~components.cluster_addons.ClusterAddons` adds the add-ons that run as Deployments
(coredns, aws-ebs-csi-driver); it comes after the node pools.

Outputs: ``eks``, ``name``, ``endpoint``, ``oidc_issuer``, ``kubeconfig`` (secret),
``k8s_provider``, ``irsa``, ``node_role``, ``storage_class_name``, ``cluster_security_group_id``
and ``node_prerequisites`` (what node groups must wait for).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._common import Irsa, assume_role_policy, irsa_role, policy_json, retained
from components.network import DISCOVERY_TAG, Network

# All five control-plane log types (CIS EKS 2.1.1, Checkov CKV_AWS_37).
LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
STORAGE_CLASS = "gp3-encrypted"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

_AWS_POLICY = "arn:aws:iam::aws:policy/"
# The node role gets only what the kubelet and the node itself need
# (https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html). ECR access is the
# pull-only managed policy (created 2024-10, a subset of ...ReadOnly without the Describe/List
# actions); the CNI policy is deliberately absent: vpc-cni runs with its own IRSA role.
NODE_ROLE_POLICIES: tuple[str, ...] = (
    _AWS_POLICY + "AmazonEKSWorkerNodePolicy",
    _AWS_POLICY + "AmazonEC2ContainerRegistryPullOnly",
    _AWS_POLICY + "AmazonSSMManagedInstanceCore",
)
CNI_POLICY = _AWS_POLICY + "AmazonEKS_CNI_Policy"


def endpoint_problems(endpoint_public_access: bool, public_access_cidrs: Sequence[str]) -> list[tuple[str, str]]:
    """A public API endpoint needs an explicit allowlist, none of whose CIDRs is the whole internet:
    ``(path, message)`` pairs, the path relative to :class:`ClusterArgs`."""
    out = []
    if endpoint_public_access and not public_access_cidrs:
        out.append(("public_access_cidrs", "a public endpoint needs an explicit allowlist of client CIDRs"))
    for cidr in public_access_cidrs:
        if cidr.strip().rsplit("/", 1)[-1].lstrip("0") == "":  # a /0 prefix: every address
            out.append(("public_access_cidrs", f"{cidr!r} opens the API to the internet; list specific CIDRs"))
    return out


@dataclass(frozen=True)
class ClusterArgs:
    """Inputs of :class:`Cluster`."""

    cluster_name: str
    """Physical EKS cluster name (``ai-platform-<stack>``); the network's subnet tags use it too."""
    version: str
    """Kubernetes minor version, e.g. ``1.35`` (validated against EKS standard support by the config)."""
    network: Network
    """The VPC; the control plane's ENIs go into its private subnets."""
    region: str
    """AWS region (the kubeconfig's ``aws eks get-token`` and the log-group key policy)."""
    account_id: str
    """AWS account (key policy principals and conditions)."""
    endpoint_public_access: bool = False
    """Expose the public API endpoint. Off by default; needs ``public_access_cidrs``."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to reach the public endpoint; required when it is on."""
    admin_role_arns: Sequence[str] = ()
    """IAM roles granted cluster admin through access entries. The identity that runs Pulumi must be one."""
    viewer_role_arns: Sequence[pulumi.Input[str]] = ()
    """IAM roles granted read-only access (AmazonEKSAdminViewPolicy), e.g. the CI preview role."""
    access_depends_on: Sequence[pulumi.Resource] = ()
    """Resources that create roles named in ``admin_role_arns`` (the deploy identities): EKS refuses an
    access entry for a principal that does not exist yet, so the entries wait for them."""
    support_type: str = "STANDARD"
    """EKS version policy: ``STANDARD`` (auto-upgrade at the end of standard support) or ``EXTENDED``."""
    log_retention_days: int = 90
    """Retention of the control-plane log group."""
    addon_versions: Mapping[str, str] = field(default_factory=dict)
    """Pinned add-on versions by add-on name; unpinned add-ons take the EKS default for ``version``."""
    protect: bool = True
    """Protect the cluster, its KMS key and log group (and retain the key and logs on delete)."""
    kubernetes_objects: bool = True
    """Create the in-cluster objects (the StorageClass). False for a cloud-layer-only ``up`` from outside the
    VPC, which must not talk to the API endpoint (``delivery.kubernetesLayer``, ADR 0008)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every AWS resource."""
    permissions_boundary: pulumi.Input[str] | None = None
    """ARN of the permissions boundary every IAM role here carries (``DeployIdentity.boundary_arn``), so the CI
    deploy role, which may only manage roles under it, can manage them (docs/adr/0007). None: no boundary."""
    iam_path: str = "/"
    """IAM path of the roles and policies created here, ``/<project>/`` from infra.config.iam_path(): the CI deploy
    role may create and tag only IAM resources under it (ADR 0007). Changing it replaces them (paths are
    immutable)."""

    def problems(self) -> list[tuple[str, str]]:
        """This component's own invariants, ``(path relative to these Args, message)``."""
        return endpoint_problems(self.endpoint_public_access, self.public_access_cidrs)


def kubeconfig_json(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig whose user runs ``aws eks get-token``: short-lived tokens, nothing stored.

    The deploy host needs the AWS CLI and credentials for one of the admin roles.
    """
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        },
        sort_keys=True,
    )


def managed_addon(
    name: str,
    cluster: aws.eks.Cluster,
    addon_name: str,
    versions: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    tags: Mapping[str, str],
    **kwargs: Any,
) -> aws.eks.Addon:
    """A managed add-on that owns its configuration: EKS overwrites local edits on create and update."""
    return aws.eks.Addon(
        name,
        cluster_name=cluster.name,
        addon_name=addon_name,
        addon_version=versions.get(addon_name),
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=dict(tags),
        opts=opts,
        **kwargs,
    )


def _issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    """The cluster's OIDC issuer URL (``https://oidc.eks.<region>.amazonaws.com/id/<ID>``)."""
    oidcs = [o for i in identities or [] for o in i.oidcs or []]
    return (oidcs[0].issuer or "") if oidcs else ""


def _role_key(arn: str) -> str:
    """A stable resource-name suffix for an admin role: its name (reordering the list changes no URN)."""
    return arn.rsplit("/", 1)[-1].lower()


class Cluster(pulumi.ComponentResource):
    """An EKS control plane with KMS-encrypted secrets, full audit logs, access entries and IRSA."""

    eks: aws.eks.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    k8s_provider: k8s.Provider
    irsa: Irsa
    node_role: aws.iam.Role
    storage_class_name: str
    cluster_security_group_id: pulumi.Output[str]
    node_prerequisites: list[pulumi.Resource]
    key: aws.kms.Key
    addon_versions: Mapping[str, str]
    tags: Mapping[str, str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        if problems := args.problems():
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        super().__init__("platform:index:Cluster", name, None, opts)
        self.tags = dict(args.tags)
        self.addon_versions = dict(args.addon_versions)
        log_group_name = f"/aws/eks/{args.cluster_name}/cluster"

        role, role_policy = self._control_plane_role(name, args)
        logs = self._encryption(name, args, role, log_group_name)
        self._control_plane(name, args, role, [logs, role_policy])
        self._irsa(name, args)
        associations = self._admins(name, args)
        node_policies = self._node_role(name, args)
        self.node_prerequisites = [*self._pre_node_addons(name), *node_policies]
        self._kubernetes_provider(name, args, associations)

        self.storage_class_name = STORAGE_CLASS
        # EKS >= 1.30 no longer marks its gp2 class as default on new clusters (EKS 1.30 release
        # notes), so this is the only default class and gp2 needs no patch.
        if args.kubernetes_objects:
            self._storage_class(name, args)

        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "oidc_issuer": self.oidc_issuer,
                "kubeconfig": self.kubeconfig,
                "node_role_arn": self.node_role.arn,
                "storage_class_name": self.storage_class_name,
            }
        )

    def _control_plane_role(self, name: str, args: ClusterArgs) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy({"Service": "eks.amazonaws.com"}),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags=self.tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicyAttachment(
            f"{name}-role-policy", role=role.name, policy_arn=_AWS_POLICY + "AmazonEKSClusterPolicy", opts=child
        )
        return role, role_policy

    def _encryption(
        self, name: str, args: ClusterArgs, role: aws.iam.Role, log_group_name: str
    ) -> aws.cloudwatch.LogGroup:
        """The cluster's KMS key (secrets envelope encryption, control-plane logs) and the log group it encrypts."""
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"EKS secrets envelope encryption and control-plane logs of {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=role.arn.apply(lambda arn: self._key_policy(args, arn, log_group_name)),
            tags=self.tags,
            opts=retained(self, args.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.cluster_name}-eks",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Created by us, before the cluster: EKS would otherwise create an unmanaged group with
        # no retention as soon as logging is on (https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html).
        return aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags=self.tags,
            opts=retained(self, args.protect),
        )

    def _control_plane(self, name: str, args: ClusterArgs, role: aws.iam.Role, after: list[pulumi.Resource]) -> None:
        self.eks = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in args.network.private_subnets],
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.key.arn),
            ),
            enabled_cluster_log_types=list(LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            # No self-managed vpc-cni/kube-proxy/coredns for the managed add-ons to adopt: the
            # add-ons below are the only copies, with their versions and configuration in code.
            bootstrap_self_managed_addons=False,
            # STANDARD: EKS auto-upgrades at the end of standard support; EXTENDED: the version stays,
            # at the extended-support price (pulumi-aws aws.eks.Cluster upgradePolicy.supportType).
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=args.support_type),
            deletion_protection=args.protect,
            tags=self.tags,
            # The role's policy must outlive the cluster, or EKS cannot clean up its ENIs and
            # security groups on delete (pulumi-aws eks.Cluster docs, role_arn); the log group must exist first.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=after),
        )
        self.name = self.eks.name
        self.endpoint = self.eks.endpoint
        self.cluster_security_group_id = self.eks.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
        # EKS creates the cluster security group (every node joins it); Karpenter's EC2NodeClass finds it by
        # this tag, so Karpenter nodes get the same group as the managed node groups.
        aws.ec2.Tag(
            f"{name}-sg-discovery",
            resource_id=self.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=args.cluster_name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.oidc_issuer = self.eks.identities.apply(_issuer)

    def _irsa(self, name: str, args: ClusterArgs) -> None:
        # IRSA. No thumbprint_lists: IAM validates the EKS issuer against its own trusted CAs and,
        # for other IdPs, fetches the thumbprint itself when none is given (pulumi-aws 7.51
        # iam.OpenIdConnectProvider, thumbprint_lists).
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=self.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.irsa = Irsa(
            provider_arn=oidc.arn,
            issuer=self.oidc_issuer.apply(lambda u: u.removeprefix("https://")),
            permissions_boundary=args.permissions_boundary,
            path=args.iam_path,
        )

    def _node_role(self, name: str, args: ClusterArgs) -> list[pulumi.Resource]:
        """The nodes' instance role and its managed policies (returned: nodes wait for them)."""
        child = pulumi.ResourceOptions(parent=self)
        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=assume_role_policy({"Service": "ec2.amazonaws.com"}),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary,
            tags=self.tags,
            opts=child,
        )
        return [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{arn.rsplit('/', 1)[-1]}", role=self.node_role.name, policy_arn=arn, opts=child
            )
            for arn in NODE_ROLE_POLICIES
        ]

    def _pre_node_addons(self, name: str) -> list[pulumi.Resource]:
        """DaemonSets that a node needs before it turns Ready: created before any node group."""
        child, tags, versions = pulumi.ResourceOptions(parent=self), self.tags, self.addon_versions
        cni_role = irsa_role(
            f"{name}-vpc-cni-role", self.irsa, "kube-system", "aws-node", parent=self,
            managed_policy_arns=[CNI_POLICY], tags=tags,
        )  # fmt: skip
        return [
            managed_addon(
                f"{name}-vpc-cni", self.eks, "vpc-cni", versions, child, tags,
                service_account_role_arn=cni_role.arn,
                # Network policy enforcement in the VPC CNI (eBPF agent), so NetworkPolicies work
                # (https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html).
                configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            ),
            managed_addon(f"{name}-kube-proxy", self.eks, "kube-proxy", versions, child, tags),
            managed_addon(f"{name}-pod-identity-agent", self.eks, "eks-pod-identity-agent", versions, child, tags),
        ]  # fmt: skip

    def _kubernetes_provider(self, name: str, args: ClusterArgs, associations: list[pulumi.Resource]) -> None:
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.eks.name, self.eks.endpoint, self.eks.certificate_authority.data).apply(
                lambda a: kubeconfig_json(a[0], a[1], a[2] or "", args.region)
            )
        )
        # The provider waits for the admin access entries: without bootstrap admin rights, the
        # deploying role has no Kubernetes permissions until its association exists.
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=associations),
        )

    def _storage_class(self, name: str, args: ClusterArgs) -> None:
        """The default StorageClass: encrypted gp3 through the EBS CSI driver."""
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            # Bind in the AZ the pod is scheduled to (EBS volumes are zonal).
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain" if args.protect else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider),
        )

    def _admins(self, name: str, args: ClusterArgs) -> list[pulumi.Resource]:
        """Access entries: cluster admin per admin role, read-only per viewer role. Returns the admin associations."""
        for i, viewer in enumerate(args.viewer_role_arns):
            self._access(f"{name}-viewer-{i}", viewer, VIEW_POLICY, args)
        return [
            self._access(f"{name}-admin-{_role_key(arn)}", arn, CLUSTER_ADMIN_POLICY, args)
            for arn in args.admin_role_arns
        ]

    def _access(self, name: str, principal: pulumi.Input[str], policy: str, args: ClusterArgs) -> pulumi.Resource:
        """One access entry and its cluster-scoped policy association; the entry waits for ``access_depends_on``."""
        entry = aws.eks.AccessEntry(
            name,
            cluster_name=self.eks.name,
            principal_arn=principal,
            type="STANDARD",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.access_depends_on)),
        )
        return aws.eks.AccessPolicyAssociation(
            f"{name}-policy",
            cluster_name=self.eks.name,
            principal_arn=entry.principal_arn,
            policy_arn=policy,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _key_policy(args: ClusterArgs, cluster_role_arn: str, log_group_name: str) -> str:
        """Key policy: the account administers it (IAM policies apply), EKS and CloudWatch Logs use it.

        Cluster-role actions follow the EKS secrets-encryption docs; the Logs statement follows
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html and is
        bound to this cluster's log group by encryption context.
        """
        acct, region = args.account_id, args.region
        return policy_json(
            [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "ClusterRoleEncryptsSecrets",
                    "Effect": "Allow",
                    "Principal": {"AWS": cluster_role_arn},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncryptsControlPlaneLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnEquals": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{acct}:log-group:{log_group_name}"
                        }
                    },
                },
            ]
        )
