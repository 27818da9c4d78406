"""Alert rules, rule unit tests, the Alertmanager config and the dashboards' PromQL, checked by Prometheus' own tools.

``promtool`` and ``amtool`` come from Debian's ``prometheus`` and ``prometheus-alertmanager``
packages. Without them these tests skip locally; in CI (``CI=true``, or ``REQUIRE_PROMTOOL=1``,
which ``.ci/run`` sets) a missing tool is a failure, so the checks can never be skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring import DASHBOARDS_DIR, RULES_DIR, alertmanager_config
from tests.conftest import ROOT, STACKS, stack_raw
from tests.fixtures import PROJECT

RULE_TESTS_DIR = ROOT / "tests" / "rules"
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("REQUIRE_PROMTOOL") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI but not installed: {INSTALL_HINT}")
    pytest.skip(f"{name} not installed; to run these checks: {INSTALL_HINT}")


def _run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}"
    return res


def _rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml"))


def _test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*_test.yaml"))


def _alerts() -> dict[str, Path]:
    out = {}
    for path in _rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in out, f"alert {rule['alert']} defined twice"
                    out[rule["alert"]] = path
    return out


# --------------------------------------------------------------------------- no tools needed
def test_every_alert_has_a_promtool_case_that_fires() -> None:
    """Each alert has at least one test case expecting it to fire (an empty exp_alerts proves nothing alone)."""
    fired: set[str] = set()
    for path in _test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    missing = sorted(set(_alerts()) - fired)
    assert not missing, f"alerts without a firing promtool test case in tests/rules/: {missing}"
    unknown = sorted(fired - set(_alerts()))
    assert not unknown, f"promtool tests for alerts that do not exist: {unknown}"


def test_every_rule_file_is_unit_tested() -> None:
    tested = set()
    for path in _test_files():
        for ref in yaml.safe_load(path.read_text())["rule_files"]:
            tested.add((path.parent / ref).resolve())
    assert _rule_files(), "no rule files found"
    assert {p.resolve() for p in _rule_files()} <= tested


def test_alerts_carry_severity_and_summary() -> None:
    for path in _rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, rule["alert"]
                assert rule.get("annotations", {}).get("summary"), rule["alert"]
                assert rule.get("annotations", {}).get("description"), rule["alert"]


# --------------------------------------------------------------------------- promtool / amtool
@pytest.mark.promtool
def test_promtool_check_rules() -> None:
    res = _run(_tool("promtool"), "check", "rules", *_rule_files())
    assert "SUCCESS" in res.stdout


@pytest.mark.promtool
def test_promtool_rule_unit_tests() -> None:
    res = _run(_tool("promtool"), "test", "rules", *_test_files())
    assert res.stdout.count("SUCCESS") == len(_test_files())


_PLACEHOLDER_WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
_PLACEHOLDER_KEY = "0123456789abcdef0123456789abcdef"


def _am_variants() -> list[tuple[str, dict[str, Any]]]:
    """The Alertmanager config of every committed stack, plus the no-receiver and both-receiver cases."""
    out = [
        ("no-receivers", {"slack_channel": None, "slack_webhook_url": None, "pagerduty_routing_key": None}),
        (
            "slack-and-pagerduty",
            {
                "slack_channel": "#alerts",
                "slack_webhook_url": _PLACEHOLDER_WEBHOOK,
                "pagerduty_routing_key": _PLACEHOLDER_KEY,
            },
        ),
    ]
    for stack in STACKS:
        alerting = (stack_raw(stack).get("monitoring") or {}).get("alerting") or {}
        out.append(
            (
                stack,
                {
                    "slack_channel": alerting.get("slackChannel"),
                    "slack_webhook_url": _PLACEHOLDER_WEBHOOK if alerting.get("slackChannel") else None,
                    "pagerduty_routing_key": _PLACEHOLDER_KEY if alerting.get("pagerduty") else None,
                },
            )
        )
    return out


@pytest.mark.promtool
@pytest.mark.parametrize(("name", "receivers"), _am_variants(), ids=[n for n, _ in _am_variants()])
def test_amtool_check_config(name: str, receivers: dict[str, Any], tmp_path: Path) -> None:
    config = alertmanager_config(cluster=f"{PROJECT}-{name}", **receivers)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    _run(_tool("amtool"), "check-config", path)
    names = {r["name"] for r in config["receivers"]}
    assert ("pagerduty" in names) == bool(receivers["pagerduty_routing_key"])
    assert ("slack" in names) == bool(receivers["slack_channel"])


@pytest.mark.promtool
def test_alertmanager_routes_critical_to_pagerduty_and_everything_to_slack(tmp_path: Path) -> None:
    config = alertmanager_config(
        cluster="c",
        slack_channel="#alerts",
        slack_webhook_url=_PLACEHOLDER_WEBHOOK,
        pagerduty_routing_key=_PLACEHOLDER_KEY,
    )
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    amtool = _tool("amtool")

    def receivers(*labels: str) -> str:
        return _run(amtool, "config", "routes", "test", f"--config.file={path}", *labels).stdout.strip()

    assert receivers("alertname=GpuFatalXidError", "severity=critical") == "pagerduty,slack"
    assert receivers("alertname=GpuMemoryNearFull", "severity=warning") == "slack"
    assert receivers("alertname=Watchdog", "severity=none") == "null"


# --------------------------------------------------------------------------- dashboards' PromQL
_DURATIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def _dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.stem}: {panel['title']} [{target['refId']}]", target["expr"]))
    return out


def _concrete(expr: str) -> str:
    """Grafana variables replaced by values promtool accepts (durations, or a regex in a label matcher)."""
    for var, value in _DURATIONS.items():
        expr = expr.replace(var, value)
    return _VARIABLE.sub(".*", expr)


def test_dashboards_are_valid_and_unique() -> None:
    uids, titles = set(), set()
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        assert board["uid"] not in uids, path
        assert board["title"] not in titles, path
        uids.add(board["uid"])
        titles.add(board["title"])
        assert len(board["uid"]) <= 40, "Grafana uids are at most 40 characters"
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", (path.stem, panel["title"])
                assert panel["targets"], (path.stem, panel["title"])
    assert {"gpu-fleet", "serving", "ci-runners", "gpu-cost"} <= {p.stem for p in DASHBOARDS_DIR.glob("*.json")}


@pytest.mark.promtool
def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """Each panel query, wrapped as a recording rule, passes ``promtool check rules`` (a PromQL parse)."""
    queries = _dashboard_queries()
    assert len(queries) > 30
    rules = [{"record": f"dashboard:query_{i}", "expr": _concrete(expr)} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
    res = subprocess.run(
        [_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    if res.returncode != 0:
        # Name the panel behind each failing rule index.
        bad = sorted({int(i) for i in re.findall(r"query_(\d+)", res.stdout + res.stderr)})
        detail = "\n".join(f"  {queries[i][0]}: {queries[i][1]}" for i in bad) or res.stdout + res.stderr
        pytest.fail(f"dashboard queries promtool rejects:\n{detail}\n{res.stderr}")
