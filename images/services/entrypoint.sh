#!/usr/bin/env bash
# Entrypoint of the services image (scaler + healthcheck: one image, the first argument picks the service).
# The local stack runs it as a plain process too. See docs/adr/0008-local-stack-and-config.md.
#
# Usage: entrypoint.sh scaler [ARGS...]        the scaler CLI (default: run; flags or SCALER_* env)
#        entrypoint.sh healthcheck [ARGS...]   the health aggregator CLI (default: serve; flags or HEALTHCHECK_* env)
#        entrypoint.sh health [SERVICE]        the ECS container health check for that service:
#                                              scaler -> GET /metrics on SCALER_METRICS_PORT (9102),
#                                              healthcheck -> GET /health on HEALTHCHECK_PORT (8000)
set -euo pipefail

SERVICE_ROLE_FILE="${SERVICE_ROLE_FILE:-/tmp/service-role}"
PYTHON="${SERVICES_PYTHON:-python3}"

die() {
  echo "entrypoint: $*" >&2
  exit 2
}

http_ok() {
  HEALTH_URL=$1 exec "$PYTHON" -c '
import os, sys, urllib.request
try:
    with urllib.request.urlopen(os.environ["HEALTH_URL"], timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print("unhealthy: %s" % e, file=sys.stderr)
    sys.exit(1)'
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  scaler)
    echo scaler >"$SERVICE_ROLE_FILE" 2>/dev/null || true
    if [[ $# -eq 0 ]]; then set -- run; fi
    exec scaler "$@"
    ;;
  healthcheck)
    echo healthcheck >"$SERVICE_ROLE_FILE" 2>/dev/null || true
    if [[ $# -eq 0 ]]; then set -- serve; fi
    exec healthcheck "$@"
    ;;
  health)
    service=${1:-}
    if [[ -z $service && -r $SERVICE_ROLE_FILE ]]; then service=$(<"$SERVICE_ROLE_FILE"); fi
    case $service in
      scaler) http_ok "http://127.0.0.1:${SCALER_METRICS_PORT:-9102}/metrics" ;;
      healthcheck) http_ok "http://127.0.0.1:${HEALTHCHECK_PORT:-8000}/health" ;;
      *) die "health: which service? usage: entrypoint.sh health {scaler|healthcheck}" ;;
    esac
    ;;
  *) die "usage: entrypoint.sh {scaler|healthcheck|health} [ARGS...]" ;;
esac
