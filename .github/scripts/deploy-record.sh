#!/usr/bin/env bash
# Writes this deploy job's record to the audit archive (docs/governance.md, "Deployment records") and prints
# `record=s3://…` to $GITHUB_OUTPUT. Runs after `pulumi up` whatever its outcome, with the deploy role.
# Env: STACK, ENVIRONMENT, OUTCOME (steps.up.outcome), BACKEND_URL, GH_TOKEN, REPO, RUN_ID.
#
# Only the stack that owns its account's archive (audit.enabled, one owner per account) exports
# `auditArchiveBucket`. Another stack in that account writes no record: a notice says so, and GitHub's
# deployment history of its environment is what remains (docs/governance.md, "One owner per account").
# The archive's name has a random suffix (bucket_prefix), and reading the owner's outputs would need the
# owner's state and key, which this job's role is not meant to have.
set -euo pipefail
: "${STACK:?}" "${ENVIRONMENT:?}" "${OUTCOME:?}" "${BACKEND_URL:?}" "${GH_TOKEN:?}" "${REPO:?}" "${RUN_ID:?}"
api="${GITHUB_API_URL:-https://api.github.com}"
work="$(mktemp -d "${RUNNER_TEMP:-/tmp}/record.XXXXXX")"

pulumi login --non-interactive "$BACKEND_URL" >&2
outputs="$(pulumi stack output --non-interactive --stack "$STACK" --json)"
archive="$(jq -r '.auditArchiveBucket // empty' <<<"$outputs")"
if [ -z "$archive" ]; then
  echo "::notice title=$STACK: no deployment record::$STACK has no auditArchiveBucket output (audit.enabled is false: its account's archive belongs to another stack). No record written; the GitHub deployment of $ENVIRONMENT still records this run."
  exit 0
fi

# `pulumi stack history` finds no update when `up` failed before the backend recorded one: the record then
# says `update: null`.
pulumi stack history --non-interactive --stack "$STACK" --json --page-size 1 >"$work/history.json" 2>/dev/null \
  || echo '[]' >"$work/history.json"
# GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals (needs `actions: read`). curl, not gh: the
# CodeBuild standard image has curl and jq but no GitHub CLI.
if ! curl -sSf -H "Authorization: Bearer $GH_TOKEN" -H "Accept: application/vnd.github+json" \
  "$api/repos/$REPO/actions/runs/$RUN_ID/approvals" >"$work/approvals.json"; then
  echo "::warning title=$STACK: approvals not read::could not read the run's approvals; the record lists none"
  echo '[]' >"$work/approvals.json"
fi
.venv/bin/blueprint records write "$STACK" --environment "$ENVIRONMENT" --bucket "$archive" \
  --history "$work/history.json" --approvals "$work/approvals.json" --outcome "$OUTCOME" \
  | tee -a "${GITHUB_OUTPUT:-/dev/null}"
