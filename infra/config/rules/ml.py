"""The ``drift``, ``mlflow`` and ``dvc`` sections' cross-field rules."""

from __future__ import annotations

import re

from infra.config._base import _K8S_NAME
from infra.config.platform import PlatformConfig
from infra.config.problems import Problem, _p


def _ini_safe_password(v: str) -> bool:
    """Whether the chart can write ``v`` into MLflow's INI file: it splices it in with ``sed`` (``&``, ``/`` and
    ``\\`` are special there) and MLflow reads the file with configparser (``%`` is special there)."""
    return not re.search(r"[%&/\\\n\r]", v)


def ml_lifecycle_problems(cfg: PlatformConfig) -> list[Problem]:
    """Drift, MLflow and DVC rules."""
    out: list[Problem] = []
    d, mf = cfg.drift, cfg.mlflow
    repos = cfg.registry.repositories
    for key, ns in (("drift.namespace", d.namespace), ("mlflow.namespace", mf.namespace)):
        if not _K8S_NAME.match(ns):
            out.append(_p(key, "a DNS label", ns))
    drifting = [n for n, m in cfg.serving.models.items() if m.drift]
    if drifting and d.image is None:
        out.append(_p("drift.image", f"required: models {drifting} have a drift section (the images/drift-job image)"))
    if d.image is not None:
        if d.image.repository not in repos:
            out.append(
                _p(
                    "drift.image.repository",
                    f"must be one of registry.repositories: {sorted(repos)}",
                    d.image.repository,
                )
            )
        if not d.image.tag and not d.image.digest:
            out.append(_p("drift.image", "pin the image with a digest or an immutable tag"))
    for name in drifting:
        spec = cfg.serving.models[name].drift
        assert spec is not None
        if spec.reference == spec.current:
            out.append(_p(f"serving.models.{name}.drift.current", "must differ from drift.reference", spec.current))
    if mf.enabled:
        out.extend(_mlflow_problems(cfg))
    if cfg.dvc.enabled and not cfg.delivery.enabled and not cfg.dvc.principal_arns:
        out.append(
            _p("dvc.principalArns", "nobody could assume the DVC role: enable delivery (GitHub OIDC) or list roles")
        )
    return out


def _mlflow_problems(cfg: PlatformConfig) -> list[Problem]:
    """An enabled MLflow: its admin password, database storage, the tier's database guarantees, its clients."""
    out: list[Problem] = []
    mf = cfg.mlflow
    if cfg.mlflow_admin_password is None:
        out.append(_p("mlflowAdminPassword", "required when mlflow.enabled: set it with `pulumi config set --secret`"))
    elif not _ini_safe_password(cfg.mlflow_admin_password.get_secret_value()):
        out.append(
            _p(
                "mlflowAdminPassword",
                "must not contain % & / \\ or line breaks (the chart writes it into an INI file with sed)",
            )
        )
    if mf.db_max_storage_gib < mf.db_storage_gib:
        out.append(
            _p("mlflow.dbMaxStorageGib", f"must be >= dbStorageGib ({mf.db_storage_gib})", mf.db_max_storage_gib)
        )
    # The tier's database guarantees (multi-AZ, deletion protection, backups, `protect`) are policies:
    # rds-instance-durability, rds-instance-backup-retention and stateful-resources-protected.
    for i, ns in enumerate(mf.client_namespaces or []):
        if not _K8S_NAME.match(ns):
            out.append(_p(f"mlflow.clientNamespaces[{i}]", "a DNS label", ns))
        elif ns == cfg.ci_runners.job_namespace and not cfg.ci_runners.enabled:
            # The egress allow MLflow adds there needs the namespace, which only the CI runners create.
            out.append(
                _p(f"mlflow.clientNamespaces[{i}]", "the CI runners' namespace, but ciRunners.enabled is false", ns)
            )
    return out
