"""MLflow tracking server and model registry: RDS PostgreSQL backend, artifacts under ``s3://<artifacts>/mlflow/``.

Provisions:
- AWS: a KMS key for the database and its master secret; a DB subnet group in the private subnets; a
  security group that admits 5432 only from the EKS cluster security group (the nodes' and so the
  pods' group, as the node pools' launch templates set none of their own); the RDS PostgreSQL
  instance: encrypted, never publicly accessible, master password generated and kept by RDS in
  Secrets Manager (``manage_master_user_password``), backups, deletion protection and multi-AZ from
  config, protected and retained with ``protect``; an IRSA role for the server that may only read
  and write the artifact bucket's ``mlflow/`` prefix.
- Kubernetes: a namespace (Pod Security ``restricted``) with a quota, a LimitRange, default-deny
  NetworkPolicies and these flows: client namespaces -> server:5000; server -> DNS,
  HTTPS (S3, STS) and the VPC on 5432 (RDS); the server (community-charts ``mlflow`` chart, pinned)
  on the system pool with MLflow's ``basic-auth`` app (admin password from the ``mlflowAdminPassword``
  secret), proxied artifact storage (clients never need S3 credentials), the database schema
  migrated by the chart's init container, a ClusterIP Service only (no Ingress, no load balancer),
  and a PodDisruptionBudget when it runs more than one replica.

The database credentials reach the pods as a Kubernetes Secret synced from the RDS-managed secret at
every ``pulumi up``; RDS rotates that secret (every 7 days by default), so run ``pulumi up`` (or an
External Secrets operator) after a rotation: docs/ml-lifecycle.md.

Outputs: ``url`` (in-cluster), ``db_endpoint``, ``db_secret_arn``, ``artifact_uri``, ``role``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _contracts, _k8s
from components._common import customer_managed_key, irsa_role, policy_json, retained
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# community-charts/helm-charts at tag mlflow-1.11.5 (commit 9d23d003), appVersion 3.15.1. Values used
# below, as named in that version's charts/mlflow/values.yaml: replicaCount, serviceAccount.{create,name,
# automount,annotations}, podSecurityContext, securityContext, service.{type,port,containerPort}, backendStore.
# {databaseMigration,databaseConnectionCheck,postgres.*,existingDatabaseSecret.*}, artifactRoot.
# {proxiedArtifactStorage,s3.{enabled,bucket,path}}, auth.{enabled,appName,defaultPermission,
# existingAdminSecret.*,postgres.*}, resources, nodeSelector, extraEnvVars, serviceMonitor.
# templates/deployment.yaml builds `--backend-store-uri=postgresql+<driver>://` and passes host, port,
# database, user and password as libpq's PG* environment variables.
MLFLOW_CHART = Chart("mlflow", "1.11.5", "https://community-charts.github.io/helm-charts")
MLFLOW_RELEASE = "mlflow"
MLFLOW_PORT = 5000  # values.yaml service.containerPort
SERVICE_PORT = 80  # values.yaml service.port
DB_NAME = "mlflow"
DB_USER = "mlflow"
DB_SECRET = "mlflow-db"  # noqa: S105 - Secret names, not secrets
AUTH_DB_SECRET = "mlflow-auth-db"  # noqa: S105
ADMIN_SECRET = "mlflow-admin"  # noqa: S105
ARTIFACT_PREFIX = "mlflow/"
# The chart's selector labels (templates/_helpers.tpl, mlflow.selectorLabels).
POD_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": MLFLOW_RELEASE}


@dataclass(frozen=True)
class DatabaseSettings:
    """The RDS instance's size and durability."""

    instance_class: str = "db.t4g.medium"
    """RDS instance class."""
    engine_version: str = "17"
    """PostgreSQL major (RDS picks and upgrades the minor)."""
    storage_gib: int = 20
    """Allocated gp3 storage."""
    max_storage_gib: int = 100
    """Storage autoscaling ceiling."""
    multi_az: bool = False
    """A synchronous standby in another AZ."""
    backup_retention_days: int = 7
    """Automated backup retention."""
    deletion_protection: bool = True
    """RDS refuses to delete the instance while set."""


@dataclass(frozen=True)
class MlflowArgs:
    """Inputs of :class:`Mlflow`. The cluster comes as its :class:`ClusterContext`: IRSA role from ``irsa`` (tagged ``tags``, also on the database), the server's egress to PostgreSQL within ``vpc_cidr``, ``region`` and ``account_id`` for the artifact policy and the database's secret, the server on ``system_node_selector`` after ``needs_nodes``."""

    identifier: str
    """RDS instance identifier, e.g. ``ai-platform-prod-mlflow``."""
    vpc_id: pulumi.Input[str]
    """The VPC of the database's security group."""
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the DB subnet group (one per AZ; multi-AZ needs two)."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS cluster security group: the only source admitted on 5432."""
    artifacts_bucket: aws.s3.Bucket
    """The artifact bucket; MLflow stores artifacts under its ``mlflow/`` prefix."""
    artifacts_key: aws.kms.Key
    """The bucket's KMS key."""
    admin_password: pulumi.Input[str]
    """Password of MLflow's ``admin`` user (a secret)."""
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    """The backend store's size and durability."""
    namespace: str = "mlflow"
    """Namespace of the server."""
    replicas: int = 1
    """Server replicas; more than one adds a PodDisruptionBudget."""
    client_namespaces: Sequence[str] = ()
    """Namespaces whose pods may call the server. Each also gets an egress allow to it (their own
    default-deny would drop the flow otherwise); they must exist, see ``clients_depend_on``."""
    clients_depend_on: Sequence[pulumi.Resource] = ()
    """What creates the client namespaces (e.g. the CI runners component)."""
    protect: bool = True
    """Protect and retain the database and its key."""


def artifact_policy(bucket_arn: str, key_arn: str, region: str) -> str:
    """Read, write and delete under the bucket's ``mlflow/`` prefix only; the bucket key via S3 only."""
    return policy_json(
        [
            {
                "Sid": "MlflowArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/{ARTIFACT_PREFIX}*"],
            },
            {
                "Sid": "ListMlflowArtifacts",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [ARTIFACT_PREFIX, f"{ARTIFACT_PREFIX}*"]}},
            },
            {
                "Sid": "BucketKeyViaS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def db_secret_data(secret_string: str) -> tuple[dict[str, str], dict[str, str]]:
    """The Kubernetes Secrets' data from the RDS-managed secret (``{"username": …, "password": …}``).

    The first is for libpq's environment (``PGUSER``/``PGPASSWORD``), the password as is. The chart
    splices the second into the auth database URL of an INI file with ``sed`` (templates/deployment.yaml,
    ini-file-initializer), and MLflow reads that file with ``configparser.ConfigParser()``, whose
    interpolation treats ``%`` as special (mlflow/server/auth/config.py). RDS-generated passwords may
    hold ``#``, ``%``, ``&`` or ``:``, so the value is percent-encoded for the URL (SQLAlchemy decodes
    it), which leaves only ``[A-Za-z0-9_.~-]`` and ``%`` for ``sed``, and each ``%`` is doubled for
    configparser.
    """
    doc = json.loads(secret_string)
    user, password = doc["username"], doc["password"]

    def ini_url_part(v: str) -> str:
        return urllib.parse.quote(v, safe="").replace("%", "%%")

    return {"username": user, "password": password}, {
        "username": ini_url_part(user),
        "password": ini_url_part(password),
    }


def mlflow_flows(args: MlflowArgs) -> dict[str, Any]:
    """Who calls the server, and what the server reaches (components/_contracts.py)."""
    server, flow = _contracts.pods(args.namespace, POD_LABELS), _contracts.Flow
    return _contracts.declare(
        flows=[
            *_contracts.dns(args.namespace, POD_LABELS, what="MLflow server"),
            *[
                flow(f"{ns} pods -> MLflow", _contracts.pods(ns, {}), server, MLFLOW_PORT)
                for ns in args.client_namespaces
            ],
            flow("MLflow -> PostgreSQL (RDS in the private subnets)", server, _contracts.vpc(), 5432),
            flow("MLflow -> S3 artifacts and STS", server, _contracts.cidr(_contracts.INTERNET), 443),
        ]
    )


class Mlflow(pulumi.ComponentResource):
    """MLflow with its RDS backend store and S3 artifact store, internal and authenticated."""

    url: str
    db_endpoint: pulumi.Output[str]
    db_secret_arn: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]
    role: aws.iam.Role

    def __init__(
        self, name: str, args: MlflowArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        db = args.database
        if db.max_storage_gib < db.storage_gib:
            raise ValueError(f"database max_storage_gib ({db.max_storage_gib}) is below storage_gib ({db.storage_gib})")
        super().__init__(
            "platform:index:Mlflow", name, mlflow_flows(args), _k8s.with_provider(opts, context.k8s_provider)
        )
        self._name, self._args, self._ctx = name, args, context
        self.instance = self._database()
        self.db_endpoint = self.instance.address
        self.db_secret_arn = self.instance.master_user_secrets.apply(lambda s: s[0].secret_arn if s else "")
        self.role = irsa_role(
            f"{name}-role",
            self._ctx.irsa,
            args.namespace,
            MLFLOW_RELEASE,
            parent=self,
            policy=pulumi.Output.all(args.artifacts_bucket.arn, args.artifacts_key.arn).apply(
                lambda a: artifact_policy(a[0], a[1], self._ctx.region)
            ),
            tags=self._ctx.tags,
        )
        self.artifact_uri = args.artifacts_bucket.bucket.apply(lambda b: f"s3://{b}/{ARTIFACT_PREFIX}")
        self.ns = _k8s.namespace(f"{name}-namespace", args.namespace, parent=self)
        # The chart's init containers (connection check, schema migration, INI writer) set no resources:
        # the LimitRange's defaults apply, and the migration imports MLflow, so 256Mi would OOM it.
        _k8s.quota_and_limits(
            name,
            self.ns,
            parent=self,
            hard={"pods": str(4 * args.replicas + 6)},
            default_cpu="500m",
            default_memory="1Gi",
        )
        self._network_policies()
        secrets = self._secrets()
        release = self._server(secrets)
        if args.replicas > 1:
            self._disruption_budget(release)
        self.url = f"http://{MLFLOW_RELEASE}.{args.namespace}.svc:{SERVICE_PORT}"
        self.register_outputs(
            {
                "url": self.url,
                "db_endpoint": self.db_endpoint,
                "db_secret_arn": self.db_secret_arn,
                "artifact_uri": self.artifact_uri,
                "role": self.role.arn,
            }
        )

    def _disruption_budget(self, release: pulumi.Resource) -> None:
        """One replica down at a time; evicting unhealthy pods never blocks a node drain."""
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata={"name": "mlflow", "namespace": self.ns.metadata.name, "labels": dict(_k8s.MANAGED_BY)},
            spec={
                "maxUnavailable": 1,
                "selector": {"matchLabels": dict(POD_LABELS)},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
        )

    # ------------------------------------------------------------------ AWS
    def _database(self) -> aws.rds.Instance:
        name, args, db = self._name, self._args, self._args.database
        tags = dict(self._ctx.tags)
        key = customer_managed_key(
            f"{name}-db-key",
            parent=self,
            description=f"{args.identifier}: MLflow database and its master secret",
            alias=f"{args.identifier}-db",
            account_id=self._ctx.account_id,
            protect=args.protect,
            tags=tags,
        )
        subnets, sg = self._database_network(tags)
        return aws.rds.Instance(
            f"{name}-db",
            identifier=args.identifier,
            engine="postgres",
            engine_version=db.engine_version,
            auto_minor_version_upgrade=True,
            instance_class=db.instance_class,
            allocated_storage=db.storage_gib,
            max_allocated_storage=db.max_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=DB_NAME,
            username=DB_USER,
            # RDS generates the password and keeps it in Secrets Manager, encrypted with the key:
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.key_id,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            publicly_accessible=False,
            multi_az=db.multi_az,
            backup_retention_period=db.backup_retention_days,
            deletion_protection=db.deletion_protection,
            copy_tags_to_snapshot=True,
            # A protected database keeps a final snapshot if it is ever deleted; a throwaway one does not.
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=f"{args.identifier}-final" if args.protect else None,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            tags=tags,
            opts=retained(self, args.protect),
        )

    def _database_network(self, tags: dict[str, str]) -> tuple[aws.rds.SubnetGroup, aws.ec2.SecurityGroup]:
        """The private subnets and a security group admitting PostgreSQL from the cluster only."""
        name, args = self._name, self._args
        subnets = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            subnet_ids=args.private_subnet_ids,
            description="MLflow database: private subnets only",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-db-sg",
            vpc_id=args.vpc_id,
            description="MLflow database: PostgreSQL from the EKS cluster only",
            tags={**tags, "Name": f"{args.identifier}-db"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-from-cluster",
            security_group_id=sg.id,
            referenced_security_group_id=args.cluster_security_group_id,
            ip_protocol="tcp",
            from_port=5432,
            to_port=5432,
            description="PostgreSQL from the cluster's nodes and pods",
            opts=pulumi.ResourceOptions(parent=self),
        )
        return subnets, sg

    # ------------------------------------------------------------------ Kubernetes
    def _network_policies(self) -> None:
        name, args = self._name, self._args
        _k8s.default_deny(f"{name}-default-deny", self.ns, parent=self)
        clients = list(args.client_namespaces)
        _k8s.network_policy(
            f"{name}-allow-server",
            self.ns,
            "allow-mlflow",
            parent=self,
            pod_selector={"matchLabels": dict(POD_LABELS)},
            ingress=[_k8s.from_namespace(ns, MLFLOW_PORT) for ns in clients],
            # HTTPS reaches S3 (artifacts) and STS (IRSA); 5432 the RDS instance in the VPC.
            egress=[_k8s.dns_egress(), _k8s.tcp_egress(443), _k8s.tcp_egress(5432, cidr=self._ctx.vpc_cidr)],
        )
        # NetworkPolicies are enforced at both ends: the clients' namespaces need an egress allow too.
        for ns in clients:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{ns}-egress",
                metadata={"name": "allow-egress-to-mlflow", "namespace": ns, "labels": dict(_k8s.MANAGED_BY)},
                spec={
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": args.namespace}
                                    },
                                    "podSelector": {"matchLabels": dict(POD_LABELS)},
                                }
                            ],
                            "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}],
                        }
                    ],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.clients_depend_on)),
            )

    def _secrets(self) -> list[pulumi.Resource]:
        name, args = self._name, self._args
        meta = {"namespace": self.ns.metadata.name, "labels": dict(_k8s.MANAGED_BY)}
        version = aws.secretsmanager.get_secret_version_output(
            secret_id=self.db_secret_arn, opts=pulumi.InvokeOptions(parent=self)
        )
        data = pulumi.Output.secret(version.secret_string).apply(db_secret_data)
        db = k8s.core.v1.Secret(
            f"{name}-db-secret",
            metadata={**meta, "name": DB_SECRET},
            string_data=data.apply(lambda d: d[0]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        auth_db = k8s.core.v1.Secret(
            f"{name}-auth-db-secret",
            metadata={**meta, "name": AUTH_DB_SECRET},
            string_data=data.apply(lambda d: d[1]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin-secret",
            metadata={**meta, "name": ADMIN_SECRET},
            string_data={"username": "admin", "password": pulumi.Output.secret(args.admin_password)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [db, auth_db, admin]

    def _server(self, secrets: Sequence[pulumi.Resource]) -> k8s.helm.v3.Release:
        name, args = self._name, self._args
        postgres = {"host": self.db_endpoint, "port": 5432, "database": DB_NAME, "driver": "psycopg2"}
        values: dict[str, Any] = {
            "replicaCount": args.replicas,
            "fullnameOverride": MLFLOW_RELEASE,
            "serviceAccount": {
                "create": True,
                "name": MLFLOW_RELEASE,
                # The server never calls the Kubernetes API; the IRSA token is projected separately.
                "automount": False,
                "annotations": {"eks.amazonaws.com/role-arn": self.role.arn},
            },
            "podSecurityContext": _k8s.restricted_pod(1001),
            "securityContext": {**_k8s.RESTRICTED_CONTAINER, "runAsUser": 1001, "runAsGroup": 1001},
            # Internal only: a ClusterIP Service, no Ingress (reach it with port-forward or from the client namespaces).
            "service": {"type": "ClusterIP", "port": SERVICE_PORT, "containerPort": MLFLOW_PORT},
            "ingress": {"enabled": False},
            "backendStore": {
                "databaseMigration": True,
                "databaseConnectionCheck": True,
                "postgres": {"enabled": True, **postgres},
                "existingDatabaseSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
            },
            "artifactRoot": {
                # Clients upload and download through the server, so only its role touches S3.
                "proxiedArtifactStorage": True,
                "s3": {"enabled": True, "bucket": args.artifacts_bucket.bucket, "path": ARTIFACT_PREFIX.strip("/")},
            },
            "auth": {
                "enabled": True,
                "appName": "basic-auth",
                "defaultPermission": "READ",
                "existingAdminSecret": {"name": ADMIN_SECRET, "usernameKey": "username", "passwordKey": "password"},
                # Users and permissions in the same database: MLflow's auth migrations keep their own
                # version table (alembic_version_auth), apart from the tracking store's alembic_version.
                "postgres": {
                    "enabled": True,
                    **postgres,
                    "existingSecret": {"name": AUTH_DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
                },
            },
            "extraEnvVars": {"AWS_DEFAULT_REGION": self._ctx.region, "PGSSLMODE": "require"},
            "resources": _k8s.agent_resources("250m", "1Gi", memory_limit="2Gi"),
            "nodeSelector": dict(self._ctx.system_node_selector),
            # No ServiceMonitor: the chart's adds `--expose-prometheus=/mlflow/metrics`, a directory on the
            # read-only root filesystem (templates/deployment.yaml mounts nothing there), and its
            # endpoint targets the Service port's name as a container port name.
            "serviceMonitor": {"enabled": False},
        }
        deps: list[pulumi.Resource] = [self.ns, self.instance, *secrets, *self._ctx.needs_nodes]
        return helm_release(
            f"{name}-server", MLFLOW_RELEASE, MLFLOW_CHART, args.namespace, values, parent=self, depends_on=deps
        )
