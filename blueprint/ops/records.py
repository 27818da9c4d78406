"""Deployment records: one JSON document per deploy job, written to the audit archive (docs/governance.md).

``blueprint records write STACK --bucket ARCHIVE --history HISTORY.json --approvals APPROVALS.json
--outcome OUTCOME [--started ISO8601] [--dry-run]``

The deploy workflow runs it after ``pulumi up`` (``if: always()``), with:

- ``HISTORY.json``: ``pulumi stack history --json --page-size 1`` (the newest update first). Its entry has
  ``kind``, ``startTime``/``endTime`` (``%Y-%m-%dT%H:%M:%S.%fZ``), ``result``, ``message`` and
  ``resourceChanges`` (counts by operation: create, update, delete, replace, same), the fields the
  SDK's automation API reads (``pulumi/automation/_stack.py``, ``Stack.history``). Its ``config`` and
  ``environment`` are not copied: config may name secrets' ciphertexts, and the record says what it needs.
  A missing or empty file (``up`` failed before the backend recorded an update) gives ``update: null``.
- ``APPROVALS.json``: ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`` (GitHub REST,
  "Get the review history for a workflow run"): who approved or rejected the environment's protection
  rule for this run; entries for other environments are dropped.
- the job's GitHub context from the runner's environment (``GITHUB_SHA``, ``GITHUB_ACTOR``, ...).

The record goes to ``s3://ARCHIVE/deployments/<stack>/<YYYY>/<MM>/<DD>/<start>-<sha12>-<run>-<attempt>.json``:
one object per job attempt, never overwritten, kept by the archive's Object Lock and lifecycle. The
S3 URI is printed as ``record=<uri>`` for ``$GITHUB_OUTPUT``.

Exit codes: 0 written, 1 could not write (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.config import PROJECT

SCHEMA = 1
PREFIX = "deployments"
_PULUMI_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
OPERATIONS = ("create", "update", "replace", "delete", "same")
GITHUB_ENV = (
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_ACTOR",
    "GITHUB_TRIGGERING_ACTOR",
    "GITHUB_SERVER_URL",
    "GITHUB_WORKFLOW",
)


class RecordError(Exception):
    """A record that cannot be built or written; printed as one line."""


def _iso(value: str | None) -> str | None:
    """A Pulumi history timestamp as ISO 8601 UTC (``2026-03-03T09:12:44Z``)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, _PULUMI_TIME).replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    except ValueError:
        return value


def latest_update(history: Any) -> dict[str, Any] | None:
    """The newest entry of ``pulumi stack history --json``, reduced to what the record keeps."""
    if not isinstance(history, list) or not history:
        return None
    entry = history[0]
    if not isinstance(entry, Mapping):
        raise RecordError("the stack history is not a list of updates (pulumi stack history --json)")
    changes = entry.get("resourceChanges") or {}
    counts = {op: int(changes.get(op, 0)) for op in OPERATIONS}
    counts.update({op: int(n) for op, n in changes.items() if op not in counts})
    return {
        "version": entry.get("version"),
        "kind": entry.get("kind"),
        "result": entry.get("result"),
        "message": entry.get("message"),
        "startTime": _iso(entry.get("startTime")),
        "endTime": _iso(entry.get("endTime")),
        "resourceChanges": counts,
    }


def approvers(approvals: Any, environment: str) -> list[dict[str, Any]]:
    """Reviews of ``environment``'s deployment protection rule for this run (GitHub's approvals API)."""
    out = []
    for a in approvals if isinstance(approvals, list) else []:
        envs = [str(e.get("name")) for e in a.get("environments") or [] if isinstance(e, Mapping)]
        if environment not in envs:
            continue
        out.append(
            {
                "login": (a.get("user") or {}).get("login"),
                "state": a.get("state"),
                "comment": a.get("comment") or "",
            }
        )
    return out


def build_record(
    stack: str,
    *,
    history: Any,
    approvals: Any,
    outcome: str,
    github: Mapping[str, str],
    started: str | None = None,
    environment: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The deployment record of one deploy job (pure: every input is an argument)."""
    update = latest_update(history)
    ended = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    # The job's outcome decides: a failed policy check leaves no update in the history at all.
    succeeded = outcome == "success" and (update is None or update["result"] == "succeeded")
    server, repo, run = (
        github.get("GITHUB_SERVER_URL", "https://github.com"),
        github.get("GITHUB_REPOSITORY", ""),
        github.get("GITHUB_RUN_ID", ""),
    )
    return {
        "schema": SCHEMA,
        "project": PROJECT,
        "stack": stack,
        "environment": environment or stack,
        "commit": github.get("GITHUB_SHA"),
        "ref": github.get("GITHUB_REF"),
        "repository": repo,
        "workflow": github.get("GITHUB_WORKFLOW"),
        "run": {
            "id": run,
            "attempt": github.get("GITHUB_RUN_ATTEMPT", "1"),
            "url": f"{server}/{repo}/actions/runs/{run}" if repo and run else None,
        },
        "actor": github.get("GITHUB_ACTOR"),
        "triggeringActor": github.get("GITHUB_TRIGGERING_ACTOR") or github.get("GITHUB_ACTOR"),
        "approvers": approvers(approvals, environment or stack),
        "start": (update or {}).get("startTime") or started,
        "end": (update or {}).get("endTime") or ended,
        "result": "succeeded" if succeeded else ("cancelled" if outcome == "cancelled" else "failed"),
        "jobOutcome": outcome,
        "update": update,
    }


def record_key(record: Mapping[str, Any]) -> str:
    """``deployments/<stack>/<YYYY>/<MM>/<DD>/<start>-<sha12>-<run>-<attempt>.json``: unique per job attempt."""
    start = str(record.get("start") or record["end"])
    day = start[:10].split("-")
    stamp = start.replace(":", "").replace("-", "")[:15]
    sha = str(record.get("commit") or "unknown")[:12]
    run = record["run"]
    return f"{PREFIX}/{record['stack']}/{day[0]}/{day[1]}/{day[2]}/{stamp}-{sha}-{run['id'] or 'local'}-{run['attempt']}.json"


def write_record(record: Mapping[str, Any], bucket: str, s3: Any) -> str:
    """Put the record in the archive; return its S3 URI.

    An explicit checksum satisfies Object Lock buckets, which refuse PUTs without Content-MD5 or an
    ``x-amz-checksum-*`` header (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html).
    The bucket's default SSE-KMS and retention apply; the caller needs kms:GenerateDataKey on its key.
    """
    key = record_key(record)
    body = json.dumps(record, indent=2, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", ChecksumAlgorithm="SHA256")
    return f"s3://{bucket}/{key}"


def _load_json(path: str | None, what: str) -> Any:
    if not path:
        return None
    p = Path(path)
    if not p.exists() or not p.read_text().strip():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: {what} is not JSON ({exc.msg})") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``records write`` to the CLI."""
    p = sub.add_parser("records", help="deployment records in the audit archive (records write)")
    rsub = p.add_subparsers(dest="records_command", required=True, parser_class=type(p))
    w = rsub.add_parser("write", help="build the deployment record and write it to the audit archive")
    w.add_argument("stack")
    w.add_argument("--bucket", help="the audit archive bucket (stack output auditArchiveBucket)")
    w.add_argument("--history", help="output of `pulumi stack history --json --page-size 1`")
    w.add_argument("--approvals", help="output of `gh api repos/{repo}/actions/runs/{run}/approvals`")
    w.add_argument("--outcome", required=True, choices=["success", "failure", "cancelled", "skipped"])
    w.add_argument("--environment", help="GitHub Environment of the job (default: the stack name)")
    w.add_argument("--started", help="when the job started (ISO 8601), used when there is no update")
    w.add_argument("--region", help="AWS region of the bucket (default: the stack's)")
    w.add_argument("--endpoint-url", default=os.environ.get("BLUEPRINT_AWS_ENDPOINT_URL"))
    w.add_argument("--dry-run", action="store_true", help="print the record instead of writing it")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``records write`` command."""
    try:
        record = build_record(
            args.stack,
            history=_load_json(args.history, "the stack history"),
            approvals=_load_json(args.approvals, "the approvals"),
            outcome=args.outcome,
            github={k: os.environ[k] for k in GITHUB_ENV if os.environ.get(k)},
            started=args.started,
            environment=args.environment,
        )
        if args.dry_run:
            print(json.dumps(record, indent=2, sort_keys=True))
            return 0
        if not args.bucket:
            raise RecordError("--bucket is required (the stack output auditArchiveBucket)")
        uri = write_record(record, args.bucket, _s3(args))
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"record={uri}")
    return 0


def _s3(args: argparse.Namespace) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from blueprint.ops._aws import connect
    from blueprint.upkeep.delivery import stack_config

    region = args.region or stack_config(args.stack).region
    client = connect(region, endpoint_url=args.endpoint_url).client("s3")

    class _Checked:
        def put_object(self, **kw: Any) -> Any:
            try:
                return client.put_object(**kw)
            except (ClientError, BotoCoreError) as exc:
                raise RecordError(f"cannot write s3://{kw['Bucket']}/{kw['Key']}: {exc}") from None

    return _Checked()
