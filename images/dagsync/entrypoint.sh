#!/usr/bin/env bash
# dagsync sidecar image entrypoint. The local stack runs it as a plain process too.
# See docs/adr/0008-local-stack-and-config.md and services/dagsync/README.md.
#
# Usage: entrypoint.sh [run|sync|publish|check ARGS...]   the dagsync CLI (default: run; flags or DAGSYNC_* env)
#        entrypoint.sh health                             the container health check = `dagsync check`: the last
#                                                         successful sync into DAGSYNC_DEST is younger than
#                                                         DAGSYNC_MAX_AGE (the one staleness limit; ECS runs
#                                                         `dagsync check` itself with the same variable)
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
    exec dagsync check
    ;;
  *) die "unknown command '$cmd'; one of: run sync publish check health" ;;
esac
