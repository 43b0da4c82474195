#!/usr/bin/env bash
# CI gate step 4 (validate.yml): plan ENV with the project's `infra` CLI against the patched moto server, so the
# policy gate sees a real plan JSON without cloud credentials (PRs from forks get none). Writes the JSON to OUT.
# Usage: scripts/ci_plan_emulated.sh ENV OUT.json      See docs/adr/0010-ci-cd.md.
set -euo pipefail
env_name="${1:?usage: ci_plan_emulated.sh ENV OUT.json}"
out="${2:?usage: ci_plan_emulated.sh ENV OUT.json}"
cd "$(dirname "$0")/.."

state="$(mktemp -d)"
port="$(.venv/bin/python -c 'from devtools.servers import free_port; print(free_port())')"
MOTO_IAM_LOAD_MANAGED_POLICIES=true .venv/bin/python -m devtools.moto_launcher -H 127.0.0.1 -p "$port" \
  >"$state/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -rf "$state"' EXIT
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break
  sleep 0.5
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
# Exit 3 = planned, but the CLI's own policy gate (regopy) denied it: still hand the JSON to conftest, which
# then fails the job with the same denies. Any other non-zero exit is a broken plan.
rc=0
.venv/bin/infra --emulated \
  --var "certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000" \
  plan "$env_name" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
  echo "infra plan $env_name failed (exit $rc); moto log: $state/moto.log" >&2
  tail -20 "$state/moto.log" >&2
  exit "$rc"
fi
cp "${INFRA_DIR:-infra}/envs/$env_name/.infra/plan.json" "$out"
echo "plan JSON: $out ($(wc -c <"$out") bytes)"
