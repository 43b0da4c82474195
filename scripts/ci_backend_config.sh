#!/usr/bin/env bash
# CI: write infra/envs/ENV/backend.hcl (git-ignored) from repository variables, in the format that
# infra/bootstrap's `backend_config` output prints. `infra init ENV` passes it to -backend-config.
# Needs TF_STATE_BUCKET and TF_STATE_KMS_KEY_ARN (outputs of infra/bootstrap); AWS_REGION defaults to us-east-1.
# Usage: scripts/ci_backend_config.sh ENV      See docs/adr/0010-ci-cd.md.
set -euo pipefail
env_name="${1:?usage: ci_backend_config.sh ENV}"
infra_dir="${INFRA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/infra}"
dir="$infra_dir/envs/$env_name"
[ -d "$dir" ] || { echo "error: no environment $env_name under $infra_dir/envs" >&2; exit 2; }
: "${TF_STATE_BUCKET:?set the repository variable TF_STATE_BUCKET (output state_bucket of infra/bootstrap)}"
: "${TF_STATE_KMS_KEY_ARN:?set the repository variable TF_STATE_KMS_KEY_ARN (output kms_key_arn of infra/bootstrap)}"
case "$TF_STATE_BUCKET" in *[!a-z0-9.-]*) echo "error: TF_STATE_BUCKET is not a bucket name" >&2; exit 2 ;; esac
cat >"$dir/backend.hcl" <<HCL
bucket       = "$TF_STATE_BUCKET"
key          = "envs/$env_name/terraform.tfstate"
region       = "${AWS_REGION:-us-east-1}"
encrypt      = true
kms_key_id   = "$TF_STATE_KMS_KEY_ARN"
use_lockfile = true
HCL
echo "wrote $dir/backend.hcl (s3://$TF_STATE_BUCKET/envs/$env_name/terraform.tfstate)"
