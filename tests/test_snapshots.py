"""The committed plan snapshots must match what the program produces now.

A pull request that changes infrastructure updates `snapshots/<stack>.json` (`make snapshots`),
so its review shows the infrastructure diff even without cloud credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blueprint.preview.command import preview_plan
from blueprint.preview.plan import diff
from blueprint.stackfiles import stack_names

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("stack", stack_names(ROOT))
def test_committed_snapshot_is_current(stack: str) -> None:
    path = ROOT / "snapshots" / f"{stack}.json"
    assert path.exists(), f"missing {path.name}: run `make snapshots`"
    committed = json.loads(path.read_text())
    current = json.loads(json.dumps(preview_plan(stack).public(), sort_keys=True))
    changes = [f"{c.op} {c.urn} {', '.join(c.paths)}" for c in diff(committed, current)]
    assert not changes, f"snapshots/{stack}.json is stale (run `make snapshots`):\n" + "\n".join(changes[:30])
    assert committed == current, (
        f"snapshots/{stack}.json is stale (outputs or policy report changed): run `make snapshots`"
    )


def test_a_stale_snapshot_is_detected() -> None:
    committed = json.loads((ROOT / "snapshots" / "dev.json").read_text())
    current = json.loads(json.dumps(preview_plan("dev").public(), sort_keys=True))
    vpc = next(r for r in current["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    vpc["inputs"]["cidrBlock"] = "10.99.0.0/16"
    changes = diff(committed, current)
    assert [(c.op, c.paths) for c in changes] == [("~", ("cidrBlock",))]
