"""Drift evaluation: a Prometheus Pushgateway and one CronJob per model that runs ``images/drift-job``.

Provisions (on the cluster's explicit Kubernetes provider):
- a namespace (Pod Security ``restricted``) with a quota, a LimitRange, default-deny NetworkPolicies
  and exactly the flows the jobs need: job -> DNS, job -> HTTPS (S3, STS), job -> Pushgateway:9091,
  Prometheus (monitoring namespace) -> Pushgateway:9091;
- the Pushgateway (prometheus-community chart, pinned) on the system pool, its pushed groups
  persisted on an encrypted volume (``--persistence.file``) so a restart does not erase the last
  score, and scraped through a ServiceMonitor with ``honorLabels`` (the pushed ``job``/``model``
  labels survive the scrape; the drift alerts group by ``model``);
- per model: an IRSA role that may only read the model's ``reference`` and ``current`` prefixes
  of the artifact bucket, its service account, and a CronJob that runs
  ``python -m drift_eval --reference s3://… --current s3://… --push-gateway … --model <model>``.
  The job pushes ``model_drift_score`` and ``model_drift_last_evaluation_timestamp_seconds``
  (docs/metrics-contract.md), which components/rules/drift.yaml alerts on.

Outputs: ``namespace``, ``pushgateway_url`` (in-cluster), ``roles`` (model -> drift role ARN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _contracts, _k8s
from components._common import irsa_role, policy_json
from components._helm import Chart, helm_release
from components.cluster_context import ClusterContext

# prometheus-community/helm-charts at tag prometheus-pushgateway-3.8.0 (commit 4fa56e1c), appVersion
# v1.11.3. Values used below, as named in that version's charts/prometheus-pushgateway/values.yaml:
# serviceMonitor.{enabled,namespace,honorLabels}, persistentVolume.{enabled,size,storageClass,mountPath},
# extraArgs, securityContext, containerSecurityContext, resources, nodeSelector, automountServiceAccountToken.
PUSHGATEWAY_CHART = Chart("prometheus-pushgateway", "3.8.0", "https://prometheus-community.github.io/helm-charts")
PUSHGATEWAY_RELEASE = "pushgateway"
PUSHGATEWAY_PORT = 9091
# The chart's selector labels (templates/_helpers.tpl, prometheus-pushgateway.selectorLabels).
PUSHGATEWAY_POD_LABELS = {
    "app.kubernetes.io/name": "prometheus-pushgateway",
    "app.kubernetes.io/instance": PUSHGATEWAY_RELEASE,
}
DRIFT_JOB_LABEL = "platform.ai/drift-job"
DRIFT_UID = 1000  # images/drift-job/Dockerfile: USER 1000
# The writable emptyDir of the read-only-root job container (HOME of the AWS SDK and Python caches).
SCRATCH = "/tmp"  # noqa: S108 - a private emptyDir per pod, not a shared host directory


@dataclass(frozen=True)
class DriftJob:
    """One model's drift evaluation."""

    reference: str
    """Key prefix of the reference data in the artifact bucket (``drift/llama/reference/``)."""
    current: str
    """Key prefix of the live inputs."""
    schedule: str = "0 * * * *"
    """Cron schedule (UTC)."""


@dataclass(frozen=True)
class DriftMonitoringArgs:
    """Inputs of :class:`DriftMonitoring`. The cluster comes as its :class:`ClusterContext`: the jobs' IRSA roles from ``irsa`` (tagged ``tags``; the ``owner`` tag labels the pods), ``region`` for the jobs, the Pushgateway volume on ``storage_class_name``, the Pushgateway and jobs on ``system_node_selector``, the release after ``needs_nodes``."""

    artifacts_bucket: aws.s3.Bucket
    """The artifact bucket holding the reference and current prefixes."""
    artifacts_key: aws.kms.Key
    """The bucket's KMS key (the roles decrypt through S3 only)."""
    image: pulumi.Input[str]
    """The drift-job image reference, pinned (``repo@sha256:…`` or an immutable tag)."""
    jobs: Mapping[str, DriftJob] = field(default_factory=dict)
    """Drift jobs keyed by model name (the ``model`` label of the pushed metrics)."""
    namespace: str = "model-drift"
    """Namespace of the Pushgateway and the jobs."""
    monitoring_namespace: str = "monitoring"
    """Namespace of Prometheus (allowed to scrape the Pushgateway)."""
    monitoring_crds: pulumi.Resource | None = None
    """The prometheus-operator CRD release; None skips the ServiceMonitor (no Prometheus to scrape it)."""
    pushgateway_storage_gib: int = 2
    """Size of the Pushgateway's volume."""
    cpu: str = "1"
    """CPU of a job (requests equal limits)."""
    memory: str = "2Gi"
    """Memory of a job."""
    deadline_seconds: int = 3600
    """``activeDeadlineSeconds`` of a job."""


def drift_read_policy(bucket_arn: str, key_arn: str, prefixes: Sequence[str], region: str) -> str:
    """Read-only access to ``prefixes`` (each ending in ``/``) of the artifact bucket, and decrypt via S3 only."""
    return policy_json(
        [
            {
                "Sid": "ReadDriftData",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{p}*" for p in prefixes],
            },
            {
                "Sid": "ListDriftData",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": [x for p in prefixes for x in (p, f"{p}*")]}},
            },
            {
                "Sid": "DecryptViaS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def drift_contracts(args: DriftMonitoringArgs) -> dict[str, Any]:
    """The flows the jobs and the Pushgateway need, and the series the jobs push (components/_contracts.py)."""
    ns, flow = args.namespace, _contracts.Flow
    gateway = _contracts.pods(ns, PUSHGATEWAY_POD_LABELS)
    flows: list[_contracts.Flow] = []  # the Pushgateway only answers: no DNS, no egress
    for model in sorted(args.jobs):
        job = _contracts.pods(ns, {DRIFT_JOB_LABEL: model})
        flows += [
            *_contracts.dns(ns, {DRIFT_JOB_LABEL: model}, what=f"drift job {model}"),
            flow(f"drift job {model} -> Pushgateway", job, gateway, PUSHGATEWAY_PORT),
            # S3 through the gateway endpoint (S3's public addresses) and STS for IRSA.
            flow(f"drift job {model} -> S3 and STS", job, _contracts.cidr(_contracts.INTERNET), 443),
        ]
    # Pushed with the grouping key job="model-drift", model=<name>; scraped with honorLabels, so the
    # series keep `job` and `model` and carry no pod (docs/metrics-contract.md).
    series = _contracts.Series(
        "model drift jobs (images/drift-job, pushed through the Pushgateway)",
        {
            "model_drift_score": ("model", "feature"),
            "model_drift_last_evaluation_timestamp_seconds": ("model",),
        },
    )
    return _contracts.declare(flows=flows, metrics=[series])


class DriftMonitoring(pulumi.ComponentResource):
    """A Pushgateway and per-model drift CronJobs that feed ``model_drift_score``."""

    namespace: str
    pushgateway_url: str
    roles: dict[str, aws.iam.Role]

    def __init__(
        self, name: str, args: DriftMonitoringArgs, context: ClusterContext, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(
            "platform:index:DriftMonitoring",
            name,
            drift_contracts(args),
            _k8s.with_provider(opts, context.k8s_provider),
        )
        for model, job in args.jobs.items():
            for prefix in (job.reference, job.current):
                if not prefix.endswith("/") or prefix.startswith("/") or "*" in prefix:
                    raise ValueError(f"model {model}: drift prefixes are key prefixes ending in '/': {prefix!r}")
        self._name, self._args, self._ctx = name, args, context
        self.ns = _k8s.namespace(f"{name}-namespace", args.namespace, parent=self)
        _k8s.quota_and_limits(
            f"{name}", self.ns, parent=self, hard={"pods": str(10 + 2 * len(args.jobs)), "requests.storage": "100Gi"}
        )
        self._network_policies()
        self.namespace = args.namespace
        self.pushgateway_url = (
            f"http://{PUSHGATEWAY_RELEASE}-prometheus-pushgateway.{args.namespace}.svc:{PUSHGATEWAY_PORT}"
        )
        pushgateway = self._pushgateway()
        self.roles = {}
        for model, job in args.jobs.items():
            self._job(model, job, pushgateway)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "pushgateway_url": self.pushgateway_url,
                "roles": {m: r.arn for m, r in self.roles.items()},
            }
        )

    def _network_policies(self) -> None:
        name, args = self._name, self._args
        _k8s.default_deny(f"{name}-default-deny", self.ns, parent=self)
        _k8s.network_policy(
            f"{name}-allow-pushgateway",
            self.ns,
            "allow-pushgateway",
            parent=self,
            pod_selector={"matchLabels": dict(PUSHGATEWAY_POD_LABELS)},
            ingress=[
                _k8s.from_namespace(args.monitoring_namespace, PUSHGATEWAY_PORT),
                {
                    "from": [{"podSelector": {"matchExpressions": [{"key": DRIFT_JOB_LABEL, "operator": "Exists"}]}}],
                    "ports": [{"protocol": "TCP", "port": PUSHGATEWAY_PORT}],
                },
            ],
        )
        _k8s.network_policy(
            f"{name}-allow-jobs",
            self.ns,
            "allow-drift-jobs",
            parent=self,
            pod_selector={"matchExpressions": [{"key": DRIFT_JOB_LABEL, "operator": "Exists"}]},
            # HTTPS reaches S3 (gateway endpoint) and STS (IRSA); 9091 the Pushgateway in this namespace.
            egress=[
                _k8s.dns_egress(),
                _k8s.tcp_egress(443),
                {
                    "to": [{"podSelector": {"matchLabels": dict(PUSHGATEWAY_POD_LABELS)}}],
                    "ports": [{"protocol": "TCP", "port": PUSHGATEWAY_PORT}],
                },
            ],
        )

    def _pushgateway(self) -> k8s.helm.v3.Release:
        name, args = self._name, self._args
        monitor = args.monitoring_crds is not None
        values: dict[str, Any] = {
            # The Pushgateway never calls the Kubernetes API.
            "automountServiceAccountToken": False,
            "securityContext": _k8s.restricted_pod(65534),
            "containerSecurityContext": dict(_k8s.RESTRICTED_CONTAINER),
            "resources": _k8s.agent_resources("50m", "64Mi", memory_limit="256Mi"),
            "nodeSelector": dict(self._ctx.system_node_selector),
            "persistentVolume": {
                "enabled": True,
                "size": f"{args.pushgateway_storage_gib}Gi",
                "storageClass": self._ctx.storage_class_name,
                "mountPath": "/data",
            },
            # Without a persistence file pushed groups live in memory only: a restart would drop every
            # model's score until its next run (https://github.com/prometheus/pushgateway#persistence).
            "extraArgs": ["--persistence.file=/data/pushgateway.db", "--persistence.interval=1m"],
            "serviceMonitor": {"enabled": monitor, "namespace": args.namespace, "honorLabels": True},
        }
        deps: list[pulumi.Resource] = [self.ns, *self._ctx.needs_nodes] + (
            [args.monitoring_crds] if args.monitoring_crds else []
        )
        return helm_release(
            f"{name}-pushgateway",
            PUSHGATEWAY_RELEASE,
            PUSHGATEWAY_CHART,
            args.namespace,
            values,
            parent=self,
            depends_on=deps,
        )

    def _job(self, model: str, job: DriftJob, pushgateway: pulumi.Resource) -> None:
        name, args = self._name, self._args
        sa_name = f"drift-{model}"
        role = irsa_role(
            f"{name}-{model}-role",
            self._ctx.irsa,
            args.namespace,
            sa_name,
            parent=self,
            policy=pulumi.Output.all(args.artifacts_bucket.arn, args.artifacts_key.arn).apply(
                lambda a: drift_read_policy(a[0], a[1], [job.reference, job.current], self._ctx.region)
            ),
            tags=self._ctx.tags,
        )
        self.roles[model] = role
        labels = {
            **_k8s.MANAGED_BY,
            "app.kubernetes.io/name": f"drift-{model}",
            DRIFT_JOB_LABEL: model,
            "platform.ai/model": model,
            # Ownership for cost allocation: the stack's `owner` tag (as the model's own pods).
            "team": self._ctx.tags.get("owner", "ml-platform"),
        }
        meta: Any = {"namespace": self.ns.metadata.name, "labels": labels}
        k8s.core.v1.ServiceAccount(
            f"{name}-{model}-sa",
            metadata={**meta, "name": sa_name, "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            # The pod still gets its projected IRSA token (the EKS pod identity webhook mounts it);
            # it never needs the Kubernetes API token.
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        uri = args.artifacts_bucket.bucket.apply(lambda b: (f"s3://{b}/{job.reference}", f"s3://{b}/{job.current}"))
        k8s.batch.v1.CronJob(
            f"{name}-{model}-cronjob",
            metadata={**meta, "name": f"drift-{model}"},
            spec=_cronjob_spec(args, self._ctx, model, sa_name, labels, job.schedule, uri, self.pushgateway_url),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pushgateway]),
        )


def _cronjob_spec(
    args: DriftMonitoringArgs,
    context: ClusterContext,
    model: str,
    sa_name: str,
    labels: Mapping[str, str],
    schedule: str,
    uris: pulumi.Output[tuple[str, str]],
    pushgateway_url: str,
) -> Any:
    container = {
        "name": "drift-eval",
        "image": args.image,
        "args": uris.apply(
            lambda u: ["--reference", u[0], "--current", u[1], "--push-gateway", pushgateway_url, "--model", model]
        ),
        # pyarrow's S3 client takes the region from AWS_REGION and the IRSA token from the env the
        # pod identity webhook injects (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE).
        "env": [{"name": "AWS_REGION", "value": context.region}, {"name": "HOME", "value": SCRATCH}],
        "resources": _k8s.resources(args.cpu, args.memory),
        "securityContext": dict(_k8s.RESTRICTED_CONTAINER),
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH}],
    }
    return {
        "schedule": schedule,
        "timeZone": "Etc/UTC",
        # A run that overlaps the next is skipped, not doubled; a missed run older than an hour is dropped.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": args.deadline_seconds,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "serviceAccountName": sa_name,
                        "automountServiceAccountToken": False,
                        "restartPolicy": "Never",
                        "securityContext": _k8s.restricted_pod(DRIFT_UID),
                        "nodeSelector": dict(context.system_node_selector),
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                    },
                },
            },
        },
    }
