"""The pack over the real stacks: no mandatory violations, and fast enough for every preview."""

from __future__ import annotations

import dataclasses
import time

from blueprint.preview.plan import Plan
from blueprint.preview.policy_eval import environment_of, evaluate, evaluate_plan, load_config_file
from tests.conftest import ROOT
from tests.policy.harness import PACK


def test_stack_has_no_mandatory_violations(stack_plan: Plan) -> None:
    report = evaluate_plan(stack_plan, root=ROOT)
    assert report["environment"] == environment_of(stack_plan.stack, ROOT)
    assert report["policies"] == len(PACK.ALL_POLICIES)
    mandatory = [
        f"{v['policy']}: {v['message']} ({v['urn']})" for v in report["violations"] if v["enforcement"] == "mandatory"
    ]
    assert mandatory == []
    assert report["mandatory"] == 0
    assert report["advisory"] == len(report["violations"])


def test_evaluation_is_fast(prod_plan: Plan) -> None:
    # ~300 resources per stack is the expected size; scale the captured plan up to that.
    copies = max(1, 300 // max(1, len(prod_plan.resources)))
    big = dataclasses.replace(
        prod_plan,
        resources=[dataclasses.replace(r, urn=f"{r.urn}-{i}") for i in range(copies) for r in prod_plan.resources],
    )
    file = load_config_file("prod", ROOT)
    evaluate(big, PACK.ALL_POLICIES, file, environment="prod")  # warm imports and caches
    # CPU time of this process, best of five: wall time is noisy when tests run in parallel.
    runs = []
    for _ in range(5):
        start = time.process_time()
        evaluate(big, PACK.ALL_POLICIES, file, environment="prod")
        runs.append(time.process_time() - start)
    assert 3 * min(runs) < 0.3, f"one ~300-resource stack took {min(runs):.3f}s of CPU"
