#!/usr/bin/env bash
# Adds a status carrying the record's key to the GitHub deployment this job's environment created
# (GET /repos/{owner}/{repo}/deployments?environment=&sha=, POST …/deployments/{id}/statuses; needs
# `deployments: write`). GitHub adds its own final status when the job ends; both stay in the history.
# Env: ENVIRONMENT, OUTCOME, RECORD (s3://archive/key), GH_TOKEN, REPO, SHA, RUN_URL.
set -euo pipefail
: "${ENVIRONMENT:?}" "${OUTCOME:?}" "${RECORD:?}" "${GH_TOKEN:?}" "${REPO:?}" "${SHA:?}" "${RUN_URL:?}"
api="${GITHUB_API_URL:-https://api.github.com}"
auth=(-H "Authorization: Bearer $GH_TOKEN" -H "Accept: application/vnd.github+json")
id="$(curl -sSf "${auth[@]}" -G "$api/repos/$REPO/deployments" --data-urlencode "environment=$ENVIRONMENT" \
  --data-urlencode "sha=$SHA" -d per_page=1 | jq -r '.[0].id // empty')"
if [ -z "$id" ]; then
  echo "no GitHub deployment for $ENVIRONMENT at $SHA" >&2
  exit 1
fi
state=failure
if [ "$OUTCOME" = success ]; then state=success; fi
# The description holds at most 140 characters: the record's key without the bucket.
body="$(jq -cn --arg state "$state" --arg env "$ENVIRONMENT" --arg log "$RUN_URL" --arg key "${RECORD#s3://*/}" \
  '{state: $state, environment: $env, log_url: $log, description: ("record " + $key)[:140]}')"
curl -sSf "${auth[@]}" -X POST "$api/repos/$REPO/deployments/$id/statuses" -d "$body" >/dev/null
echo "deployment $id of $ENVIRONMENT: $state, record ${RECORD}"
