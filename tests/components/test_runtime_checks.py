"""Components check their preconditions with real exceptions: `assert` vanishes under `python -O`
(PYTHONOPTIMIZE), and a check that vanishes lets a bad input register resources."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from components.model_spec import ModelAutoscaling, WeightsSource
from components.serving import canary_replicas, prefix_of
from tests.components.test_serving import model, serve

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def test_no_assert_statements_in_components() -> None:
    found = [
        f"{path.relative_to(COMPONENTS.parent)}:{node.lineno}"
        for path in sorted(COMPONENTS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_canary_replicas_without_a_canary_raises_even_under_python_O() -> None:
    with pytest.raises(ValueError, match="no canary"):
        canary_replicas(model(canary=None))
    probe = (
        "from tests.components.test_serving import model\n"
        "from components.serving import canary_replicas\n"
        "try:\n    canary_replicas(model(canary=None))\nexcept ValueError:\n    print('refused')\n"
    )
    root = COMPONENTS.parent
    out = subprocess.run([sys.executable, "-O", "-c", probe], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.stdout.strip() == "refused", out.stderr[-2000:]


def test_prefix_of_without_an_s3_source_raises() -> None:
    with pytest.raises(ValueError, match="no S3 source"):
        prefix_of(model(source=WeightsSource(pvc_size_gib=100)))


def test_keda_autoscaling_without_a_query_is_refused_before_anything_is_registered() -> None:
    with pytest.raises(Exception, match="KEDA autoscaling needs a query"):
        serve({"llm": model(autoscaling=ModelAutoscaling(type="keda", query=None, threshold=5))})
