"""Model lineage annotations of a model's Deployment and pods (internal; used by ``serving``).

Each model Deployment and its pod template carry where the running model came from: the model key
and version, the image reference and digest, the weights location and its S3 version id or DVC
hash, and the MLflow run id when the config gives one. On the pod template they are copied into
every ReplicaSet, so ``kubectl get rs -o yaml`` shows what served before a rollout
(``revisionHistoryLimit``), and a change of version or weights rolls the pods, which then copy the
new weights. docs/governance.md shows how to read them; ``blueprint/preview/analyses/lineage.py`` lists them
per model in the preview report, and the policy pack requires them in staging and prod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

PREFIX = "platform.ai/"
"""The platform's label and annotation prefix (``platform.ai/model``, ``platform.ai/track``)."""
MODEL = PREFIX + "model-name"
VERSION = PREFIX + "model-version"
IMAGE = PREFIX + "image"
IMAGE_DIGEST = PREFIX + "image-digest"
WEIGHTS_URI = PREFIX + "weights-uri"
WEIGHTS_VERSION = PREFIX + "weights-s3-version-id"
WEIGHTS_DVC = PREFIX + "weights-dvc-hash"
MLFLOW_RUN = PREFIX + "mlflow-run-id"

REQUIRED = (MODEL, VERSION, IMAGE, IMAGE_DIGEST, WEIGHTS_URI)
"""Annotations every model Deployment carries (values ``unpinned``/``unversioned`` when the config has none)."""
ALL = (*REQUIRED, WEIGHTS_VERSION, WEIGHTS_DVC, MLFLOW_RUN)

UNPINNED = "unpinned"
UNVERSIONED = "unversioned"


def lineage_annotations(
    model: str,
    *,
    version: str | None,
    image: pulumi.Input[str],
    digest: str | None,
    weights_uri: pulumi.Input[str],
    weights_version_id: str | None = None,
    dvc_hash: str | None = None,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """The lineage annotations of one model track; optional facts appear only when known."""
    out: dict[str, Any] = {
        MODEL: model,
        VERSION: version or UNVERSIONED,
        IMAGE: image,
        IMAGE_DIGEST: digest or UNPINNED,
        WEIGHTS_URI: weights_uri,
    }
    optional: Mapping[str, str | None] = {
        WEIGHTS_VERSION: weights_version_id,
        WEIGHTS_DVC: dvc_hash,
        MLFLOW_RUN: mlflow_run_id,
    }
    out.update({k: v for k, v in optional.items() if v})
    return out
