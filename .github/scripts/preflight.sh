#!/usr/bin/env bash
# `blueprint preflight $STACK` in the deploy workflow, with the exit-3 contract (blueprint/ops/preflight.py):
# 0 ready -> `ready=true`; 3 not bootstrapped (no OIDC provider or preview role yet: the administrator's
# first `up` has not run) -> a notice, `ready=false`, and success, so the chain skips this stack without
# failing; anything else fails the job.
# Preflight makes the web-identity exchange itself (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, boto3's
# AssumeRoleWithWebIdentity provider): configure-aws-credentials would fail on a missing provider or role
# before preflight could tell "not bootstrapped" from a real failure.
# Env: STACK, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE.
set -uo pipefail
: "${STACK:?}" "${AWS_ROLE_ARN:?}" "${AWS_WEB_IDENTITY_TOKEN_FILE:?}"
rc=0
.venv/bin/blueprint preflight "$STACK" || rc=$?
if [ "$rc" = 3 ]; then
  echo "::notice title=$STACK skipped::$STACK is not bootstrapped (no GitHub OIDC provider or preview role in its account yet): an administrator runs its first up (README, Deploying for real). $STACK and the environments after it are not deployed."
  echo "ready=false" >>"${GITHUB_OUTPUT:-/dev/null}"
  exit 0
fi
if [ "$rc" = 0 ]; then
  echo "ready=true" >>"${GITHUB_OUTPUT:-/dev/null}"
fi
exit "$rc"
