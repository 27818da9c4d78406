#!/usr/bin/env bash
# Fails with the exact recovery command when the stack has an update lock in the DIY backend.
# A self-managed backend writes <url>/.pulumi/locks/organization/<project>/<stack>/<id>.json for the length
# of an `up` and deletes it at the end (pulumi pkg/backend/diy/lock.go); a job killed by a timeout or a
# cancel leaves it behind, and every later `up` fails with "the stack is currently locked".
# Env: STACK, LOCK_PREFIX (s3://bucket/.pulumi/locks/organization/<project>/<stack>/), BACKEND_URL.
set -euo pipefail
locks=$(aws s3 ls "$LOCK_PREFIX" 2>/dev/null | awk '{print $NF}' | grep -c '\.json$' || true)
if [ "${locks:-0}" -eq 0 ]; then
  echo "No update lock on $STACK."
  exit 0
fi
aws s3 ls "$LOCK_PREFIX" || true
cmd="pulumi login '$BACKEND_URL' && pulumi cancel --stack $STACK --yes"
echo "::error title=$STACK is locked::$locks update lock(s) under $LOCK_PREFIX. If no other update of $STACK is running (check the deploy and drift runs), remove it with: $cmd"
{
  echo "### $STACK is locked"
  echo
  echo "A previous update of \`$STACK\` was interrupted and left its lock. After checking that no other run is updating it:"
  echo
  echo '```bash'
  echo "$cmd"
  echo '```'
  echo
  echo "Then re-run this job; \`--refresh\` reconciles the state with what the interrupted update created (docs/operations.md, Stale locks)."
} >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
exit 1
