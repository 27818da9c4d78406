"""The deployment record's content, built from a stack history, GitHub's approvals and the job's context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from blueprint.ops.records import RecordError, build_record, latest_update, record_key

# Shapes of `pulumi stack history --json` (fields read by pulumi/automation/_stack.py, Stack.history)
# and of GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals.
HISTORY = [
    {
        "version": 42,
        "kind": "update",
        "startTime": "2026-03-03T09:12:44.000Z",
        "endTime": "2026-03-03T09:40:02.000Z",
        "message": "deploy abc (run 99)",
        "result": "succeeded",
        "environment": {"exec.kind": "cli", "git.head": "abc"},
        "config": {"ai-platform:grafanaAdminPassword": {"secret": True}},
        "resourceChanges": {"create": 3, "update": 2, "same": 250, "replace": 1},
    },
    {"version": 41, "kind": "update", "startTime": "2026-03-01T00:00:00.000Z", "result": "failed"},
]
APPROVALS = [
    {
        "state": "approved",
        "comment": "change CHG-1234",
        "environments": [{"id": 1, "name": "prod"}],
        "user": {"login": "alice"},
    },
    {"state": "approved", "comment": "", "environments": [{"id": 2, "name": "staging"}], "user": {"login": "bob"}},
]
GITHUB = {
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_REPOSITORY": "example-org/ai-platform",
    "GITHUB_RUN_ID": "99",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_ACTOR": "carol",
    "GITHUB_TRIGGERING_ACTOR": "dave",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_WORKFLOW": "deploy",
}
NOW = datetime(2026, 3, 3, 9, 41, tzinfo=UTC)


def _record(**over: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "history": HISTORY,
        "approvals": APPROVALS,
        "outcome": "success",
        "github": GITHUB,
        "now": NOW,
    }
    kw.update(over)
    return build_record("prod", **kw)


def test_record_names_stack_commit_actor_approvers_counts_times_and_result() -> None:
    r = _record()
    assert r["stack"] == "prod"
    assert r["commit"] == GITHUB["GITHUB_SHA"]
    assert r["actor"] == "carol"
    assert r["triggeringActor"] == "dave"
    assert r["approvers"] == [{"login": "alice", "state": "approved", "comment": "change CHG-1234"}]
    assert r["update"]["resourceChanges"] == {"create": 3, "update": 2, "replace": 1, "delete": 0, "same": 250}
    assert r["update"]["version"] == 42
    assert (r["start"], r["end"]) == ("2026-03-03T09:12:44Z", "2026-03-03T09:40:02Z")
    assert r["result"] == "succeeded"
    assert r["run"]["url"] == "https://github.com/example-org/ai-platform/actions/runs/99"


def test_history_config_and_environment_are_not_copied() -> None:
    text = repr(_record())
    assert "grafanaAdminPassword" not in text
    assert "git.head" not in text


def test_a_failed_job_without_an_update_is_still_recorded_as_failed() -> None:
    r = _record(history=None, outcome="failure", started="2026-03-03T09:00:00Z")
    assert r["update"] is None
    assert r["result"] == "failed"
    assert (r["start"], r["end"]) == ("2026-03-03T09:00:00Z", "2026-03-03T09:41:00Z")


def test_a_failed_update_fails_the_record_even_if_the_step_passed() -> None:
    failed = [{**HISTORY[0], "result": "failed"}]
    assert _record(history=failed)["result"] == "failed"
    assert _record(outcome="cancelled")["result"] == "cancelled"


def test_key_is_unique_per_stack_day_commit_run_and_attempt() -> None:
    r = _record()
    assert record_key(r) == "deployments/prod/2026/03/03/20260303T091244-0123456789ab-99-2.json"
    assert record_key(_record(github={**GITHUB, "GITHUB_RUN_ATTEMPT": "3"})) != record_key(r)


def test_malformed_history_is_an_error() -> None:
    with pytest.raises(RecordError):
        latest_update(["not an update"])
