"""EKS support policy (issue 11 defect 9): config, the cluster's upgrade policy and the 60-day warning."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blueprint.preview.analyses import ANALYSES
from blueprint.preview.analyses.eks_support import analyse
from infra.config import SECRET_KEYS, ConfigError, parse_config
from infra.eks_versions import EKS_VERSIONS, TABLE_DATE, WARN_DAYS, support_warning, supported_versions
from tests import fixtures as fx
from tests.conftest import STACKS, plan_for, stack_raw

SECRETS = list(SECRET_KEYS)  # every secret key Pulumi.yaml declares (infra/config.py)


def parse(raw: dict[str, Any]) -> Any:
    plain = {k: ("x" if isinstance(v, dict) and set(v) == {"secure"} else v) for k, v in raw.items()}
    return parse_config(plain, secret_keys=SECRETS, source="stacks/Pulumi.test.yaml")


def test_support_type_defaults_to_standard_and_accepts_extended(raw_config: Callable[[str], dict[str, Any]]) -> None:
    raw = raw_config(fx.DEV)
    assert parse(raw).cluster.support_type == "STANDARD"
    raw["cluster"]["supportType"] = "EXTENDED"
    assert parse(raw).cluster.support_type == "EXTENDED"
    raw["cluster"]["supportType"] = "LTS"
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert [p.path for p in info.value.problems] == ["cluster.supportType"]


def test_extended_support_keeps_a_version_that_left_standard_support() -> None:
    later = dt.date(2027, 1, 15)
    assert "1.34" not in supported_versions("STANDARD", later)
    assert "1.34" in supported_versions("EXTENDED", later)


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_gets_the_configured_support_type(stack: str) -> None:
    (eks,) = plan_for(stack).by_type("aws:eks/cluster:Cluster")
    want = stack_raw(stack)["cluster"].get("supportType", "STANDARD")
    assert eks.inputs["upgradePolicy"] == {"supportType": want}


def test_table_is_dated_and_consistent() -> None:
    assert dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1) >= TABLE_DATE
    for v in EKS_VERSIONS.values():
        if v.end_of_standard and v.released and v.end_of_extended:
            assert v.released < v.end_of_standard < v.end_of_extended


def test_warning_within_sixty_days_says_what_eks_will_do() -> None:
    end = EKS_VERSIONS["1.35"].end_of_standard
    assert end is not None
    assert support_warning("1.35", "STANDARD", end - dt.timedelta(days=WARN_DAYS + 1)) is None
    soon = support_warning("1.35", "STANDARD", end - dt.timedelta(days=WARN_DAYS))
    assert soon
    assert "upgrades the control plane on its own" in soon
    paid = support_warning("1.35", "EXTENDED", end - dt.timedelta(days=3))
    assert paid
    assert "extended-support charges" in paid
    assert "no end-of-standard-support date" in (support_warning("1.36", "STANDARD", TABLE_DATE) or "")


def test_preview_reports_the_warning_as_advisory() -> None:
    assert "blueprint.preview.analyses.eks_support" in ANALYSES
    plan = plan_for(fx.DEV)
    (eks,) = plan.by_type("aws:eks/cluster:Cluster")
    end = EKS_VERSIONS[eks.inputs["version"]].end_of_standard
    assert end is not None
    quiet = analyse(plan, Path("."), today=end - dt.timedelta(days=120))
    assert quiet.findings == []
    assert quiet.checked == {"EKS clusters": 1}
    (finding,) = analyse(plan, Path("."), today=end - dt.timedelta(days=30)).findings
    assert not finding.blocking
    assert "cluster.version" in finding.fix
