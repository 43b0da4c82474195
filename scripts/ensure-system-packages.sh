#!/usr/bin/env bash
# Install the Debian packages the tests and the local stack need, only those missing.
# Usage: scripts/ensure-system-packages.sh [extra-package ...]
set -euo pipefail

declare -A wanted=(
  [redis-server]=redis-server   # Celery broker for tests and the local stack
  [rclone]=rclone               # bench/ baseline
  [chromium]=chromium           # healthcheck page test (headless, driven by Playwright)
  [dot]=graphviz                # docs/architecture*.png (make diagram)
  [wrk]=wrk                     # bench/ load test on /status
  [node]=nodejs                 # tests/workflows: the workflows' github-script code runs under node
)
for extra in "$@"; do wanted[$extra]=$extra; done

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages (${missing[*]}); run as root or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "==> apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> system packages ready"
