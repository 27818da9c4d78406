"""Every stack: each GPU model's startup probe and deploy await follow its cold-start estimate, the
program and the preview agree on that estimate, and a prod model comes back from zero in <= 240 s.

The program computes the waits from the config (components/serving.py, infra/__main__.py); the preview's
analysis recomputes the estimate from the plan (blueprint/preview/analyses/cold_start.py). Both call the same
function (components/cold_start.py), so an annotation the analysis cannot reproduce means one side reads
the stack differently (a pool, a pull path, a load path).
"""

from __future__ import annotations

from typing import Any

import pytest

from blueprint.preview.analyses import cold_start as analysis
from components import cold_start as cs
from components.serving import ROLLOUT_TIMEOUT_CAP_SECONDS
from tests.conftest import STACKS, plan_for
from tests.fixtures import ROOT, stacks_of_tier

PROD_COLD_START_SECONDS = 240  # issue 15: a model scaled to zero in prod serves again in about two minutes


def _models(stack: str) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = analysis.analyse(plan_for(stack), ROOT).data["models"]
    return models


@pytest.mark.parametrize("stack", STACKS)
def test_the_startup_probe_covers_the_estimated_load_and_init(stack: str) -> None:
    for m in _models(stack):
        assert m["budgetSeconds"] is not None, f"{stack}/{m['model']}: no startup probe"
        assert m["budgetSeconds"] >= m["probeCoveredSeconds"], f"{stack}/{m['model']}: {m}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_deploy_await_is_the_estimated_rollout_with_its_margin(stack: str) -> None:
    models = _models(stack)
    assert models, f"{stack}: no GPU model, the invariant checks nothing"
    for m in models:
        where = f"{stack}/{m['model']}"
        if m["undeclared"] or m["rolloutSeconds"] is None:
            assert m["deployTimeoutSeconds"] == ROLLOUT_TIMEOUT_CAP_SECONDS, where
            continue
        # Same function, same inputs: equal up to the analysis rounding its rollout to whole seconds.
        expected = min(ROLLOUT_TIMEOUT_CAP_SECONDS, cs.TIMEOUT_MARGIN * m["rolloutSeconds"])
        assert abs(m["deployTimeoutSeconds"] - expected) <= cs.TIMEOUT_MARGIN, where
        assert m["deployTimeoutSeconds"] >= min(ROLLOUT_TIMEOUT_CAP_SECONDS, m["seconds"]), where


@pytest.mark.parametrize("stack", stacks_of_tier("prod"))
def test_every_prod_model_is_back_from_zero_within_the_target(stack: str) -> None:
    for m in _models(stack):
        assert not m["undeclared"], f"{stack}/{m['model']}: declare {m['undeclared']} or the estimate means nothing"
        assert m["seconds"] <= PROD_COLD_START_SECONDS, f"{stack}/{m['model']}: {m['seconds']} s: {m['parts']}"
