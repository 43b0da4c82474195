#!/usr/bin/env bash
# dagsync sidecar image entrypoint. The local stack runs it as a plain process too.
# See docs/adr/0008-local-stack-and-config.md and services/dagsync/README.md.
#
# Usage: entrypoint.sh [run|sync|publish|check ARGS...]   the dagsync CLI (default: run; flags or DAGSYNC_* env)
#        entrypoint.sh health                             the ECS container health check:
#                                                         dagsync check --dest $DAGSYNC_DEST --max-age $DAGSYNC_HEALTH_MAX_AGE
set -euo pipefail

die() {
  echo "entrypoint: $*" >&2
  exit 2
}

cmd=${1:-run}
[[ $# -gt 0 ]] && shift
case $cmd in
  run | sync | publish | check) exec dagsync "$cmd" "$@" ;;
  health)
    [[ -n ${DAGSYNC_DEST:-} ]] || die "health: set DAGSYNC_DEST (the synced folder)"
    # Default: four missed cycles at the default 30 s interval.
    exec dagsync check --dest "$DAGSYNC_DEST" --max-age "${DAGSYNC_HEALTH_MAX_AGE:-120}"
    ;;
  *) die "unknown command '$cmd'; one of: run sync publish check health" ;;
esac
