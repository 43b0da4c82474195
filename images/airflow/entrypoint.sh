#!/usr/bin/env bash
# Airflow image entrypoint: one image, the first argument picks the role.
# The local stack (devtools/localstack) starts every Airflow process through this same script, so it must run
# as a plain process too: every path is an env var whose default is the image's.
# See docs/adr/0008-local-stack-and-config.md.
#
# Usage: entrypoint.sh ROLE [extra airflow args...]
#   api-server | scheduler | dag-processor | triggerer | worker   run that component (exec, so signals reach it)
#   migrate                      airflow db migrate (one-off task), then the platform's users (platform_users.py:
#                                admin and CI account from AIRFLOW_ADMIN_* / AIRFLOW_CI_*), then exit
#   health [ROLE]                the role's health command (= the ECS container health check); exit 0 = healthy
#   celery worker [ARGS...]      = worker (the `airflow celery worker` spelling task definitions may use)
#   config                       print the derived settings, secrets redacted
#   print-setting NAME           print one derived value (the image sets AIRFLOW__..._CMD to this, so health probes
#                                run by ECS outside this script still find the DB and broker)
#   airflow ARGS... | celery ARGS...   run that CLI with the derived settings
#
# Settings: the shared env file (AIRFLOW_ENV_FILE, default /opt/airflow/airflow.env) gives defaults; anything
# already in the environment wins. Per-deployment values are derived from:
#   database  AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, or AIRFLOW_DB_HOST [AIRFLOW_DB_PORT AIRFLOW_DB_USER
#             AIRFLOW_DB_PASSWORD AIRFLOW_DB_NAME]
#   broker    AIRFLOW__CELERY__BROKER_URL, or AIRFLOW_REDIS_URL, or AIRFLOW_REDIS_HOST [AIRFLOW_REDIS_PORT
#             AIRFLOW_REDIS_PASSWORD AIRFLOW_REDIS_TLS=true]
#   API       AIRFLOW_API_URL (what workers call; default http://127.0.0.1:$AIRFLOW__API__PORT)
#   secret    AIRFLOW_JWT_SECRET: the same value in every component (JWT signing + API secret key)
#   logs      AIRFLOW_LOG_BUCKET [AIRFLOW_LOG_PREFIX=logs] -> S3 remote logging through the aws_default
#             connection, which honours AWS_ENDPOINT_URL / AWS_REGION
#   identity  AIRFLOW_WORKER_HOST (default: $HOSTNAME): Celery node name and task_instance.hostname
#   paths     AIRFLOW_ENV_FILE, AIRFLOW_PLATFORM_LIB (/opt/airflow/lib), AIRFLOW_ROLE_FILE (/tmp/airflow-role)
set -euo pipefail

readonly ROLES="api-server scheduler dag-processor triggerer worker"
AIRFLOW_ENV_FILE="${AIRFLOW_ENV_FILE:-/opt/airflow/airflow.env}"
AIRFLOW_ROLE_FILE="${AIRFLOW_ROLE_FILE:-/tmp/airflow-role}"
PYTHON="${AIRFLOW_PYTHON:-python3}"
CELERY_APP="airflow.providers.celery.executors.celery_executor.app"

die() {
  local code=$1
  shift
  echo "entrypoint: $*" >&2
  exit "$code"
}

log() { echo "entrypoint: $*" >&2; }

load_env_file() {
  local file=$1 line key value
  [[ -r $file ]] || die 2 "cannot read $file: set AIRFLOW_ENV_FILE to the shared images/airflow/airflow.env"
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    key=${line%%=*}
    value=${line#*=}
    key=${key//[[:space:]]/}
    [[ $line == *=* && $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die 2 "$file: not KEY=VALUE: $line"
    # The deployment's environment wins over the file's defaults.
    if [[ -z ${!key+x} ]]; then
      export "$key=$value"
    fi
  done <"$file"
}

urlencode() {
  # The value goes through the environment, never argv (argv is visible to every local user).
  URLENCODE_VALUE=$1 "$PYTHON" -c \
    'import os, urllib.parse; print(urllib.parse.quote(os.environ["URLENCODE_VALUE"], safe=""))'
}

derive_settings() {
  local pw scheme user query
  # --- metadata database
  if [[ -z ${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-} ]]; then
    [[ -n ${AIRFLOW_DB_HOST:-} ]] ||
      die 2 "no database: set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN or AIRFLOW_DB_HOST (+ AIRFLOW_DB_USER, AIRFLOW_DB_PASSWORD, AIRFLOW_DB_NAME)"
    pw=$(urlencode "${AIRFLOW_DB_PASSWORD:-}")
    user=$(urlencode "${AIRFLOW_DB_USER:-airflow}")
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://${user}:${pw}@${AIRFLOW_DB_HOST}:${AIRFLOW_DB_PORT:-5432}/${AIRFLOW_DB_NAME:-airflow}${AIRFLOW_DB_SSLMODE:+?sslmode=${AIRFLOW_DB_SSLMODE}}"
  fi
  export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN}}"

  # --- Celery broker (Redis)
  if [[ -z ${AIRFLOW__CELERY__BROKER_URL:-} ]]; then
    if [[ -n ${AIRFLOW_REDIS_URL:-} ]]; then
      export AIRFLOW__CELERY__BROKER_URL="$AIRFLOW_REDIS_URL"
    elif [[ -n ${AIRFLOW_REDIS_HOST:-} ]]; then
      scheme=redis query=""
      if [[ ${AIRFLOW_REDIS_TLS:-false} == true ]]; then
        scheme=rediss query="?ssl_cert_reqs=required" # ElastiCache in-transit encryption
      fi
      pw=""
      [[ -n ${AIRFLOW_REDIS_PASSWORD:-} ]] && pw=":$(urlencode "$AIRFLOW_REDIS_PASSWORD")@"
      export AIRFLOW__CELERY__BROKER_URL="${scheme}://${pw}${AIRFLOW_REDIS_HOST}:${AIRFLOW_REDIS_PORT:-6379}/0${query}"
    else
      die 2 "no broker: set AIRFLOW__CELERY__BROKER_URL, AIRFLOW_REDIS_URL or AIRFLOW_REDIS_HOST"
    fi
  fi

  # --- API server: workers reach the execution API through it
  export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
  AIRFLOW_API_URL="${AIRFLOW_API_URL:-http://127.0.0.1:${AIRFLOW__API__PORT}}"
  AIRFLOW_API_URL="${AIRFLOW_API_URL%/}"
  export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-$AIRFLOW_API_URL}"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-${AIRFLOW_API_URL}/execution/}"

  # --- one shared secret for JWT signing and the API secret key
  if [[ -n ${AIRFLOW_JWT_SECRET:-} ]]; then
    export AIRFLOW__API_AUTH__JWT_SECRET="${AIRFLOW__API_AUTH__JWT_SECRET:-$AIRFLOW_JWT_SECRET}"
    export AIRFLOW__API__SECRET_KEY="${AIRFLOW__API__SECRET_KEY:-$AIRFLOW_JWT_SECRET}"
  fi
  [[ -n ${AIRFLOW__API_AUTH__JWT_SECRET:-} ]] ||
    die 2 "no JWT secret: set AIRFLOW_JWT_SECRET (the same value in every Airflow component)"

  # --- S3 task logs through the aws_default connection
  if [[ -n ${AIRFLOW_LOG_BUCKET:-} && -z ${AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER:-} ]]; then
    export AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://${AIRFLOW_LOG_BUCKET}/${AIRFLOW_LOG_PREFIX:-logs}"
  fi
  if [[ ${AIRFLOW__LOGGING__REMOTE_LOGGING:-False} =~ ^(True|true|1)$ && -z ${AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER:-} ]]; then
    die 2 "remote logging is on but no bucket: set AIRFLOW_LOG_BUCKET (or AIRFLOW__LOGGING__REMOTE_LOGGING=False)"
  fi
  if [[ -z ${AIRFLOW_CONN_AWS_DEFAULT:-} ]]; then
    AIRFLOW_CONN_AWS_DEFAULT=$("$PYTHON" -c '
import json, os
extra = {"region_name": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
if os.environ.get("AWS_ENDPOINT_URL"):  # emulated AWS (moto): path-style S3 on a custom endpoint
    extra["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    extra["config_kwargs"] = {"s3": {"addressing_style": "path"}}
print(json.dumps({"conn_type": "aws", "extra": extra}))')
    export AIRFLOW_CONN_AWS_DEFAULT
  fi

  # --- worker identity: task_instance.hostname and the Celery node name (health pings exactly this node)
  export PYTHONPATH="${AIRFLOW_PLATFORM_LIB:-/opt/airflow/lib}${PYTHONPATH:+:${PYTHONPATH}}"
  export AIRFLOW__CORE__HOSTNAME_CALLABLE="${AIRFLOW__CORE__HOSTNAME_CALLABLE:-platform_hostname.get_hostname}"
  # HOSTNAME: the container's host name (on Fargate the task ENI's DNS name; the local runner sets the same).
  WORKER_HOST="${AIRFLOW_WORKER_HOST:-${HOSTNAME:-$(hostname)}}"
}

db_host_port() {
  "$PYTHON" -c '
import os, urllib.parse
u = urllib.parse.urlsplit(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
print(u.hostname or "127.0.0.1", u.port or 5432)'
}

wait_for_db() {
  local timeout=${AIRFLOW_DB_WAIT_TIMEOUT:-120} host port start
  read -r host port < <(db_host_port)
  start=$SECONDS
  until (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; do
    ((SECONDS - start < timeout)) || die 1 "database not reachable at ${host}:${port} after ${timeout}s (AIRFLOW_DB_WAIT_TIMEOUT)"
    sleep 1
  done
  if [[ ${AIRFLOW_WAIT_FOR_MIGRATIONS:-true} == true ]]; then
    airflow db check-migrations --migration-wait-timeout "${AIRFLOW_MIGRATION_WAIT_TIMEOUT:-300}" >/dev/null ||
      die 1 "database at ${host}:${port} is not migrated: run 'entrypoint.sh migrate' first"
  fi
}

health() {
  local role=${1:-}
  if [[ -z $role && -r $AIRFLOW_ROLE_FILE ]]; then
    role=$(<"$AIRFLOW_ROLE_FILE")
  fi
  case $role in
    scheduler) exec airflow jobs check --job-type SchedulerJob --local ;;
    dag-processor) exec airflow jobs check --job-type DagProcessorJob --local ;;
    triggerer) exec airflow jobs check --job-type TriggererJob --local ;;
    worker) exec celery --app "$CELERY_APP" inspect ping --destination "celery@${WORKER_HOST}" --timeout "${AIRFLOW_HEALTH_TIMEOUT:-10}" ;;
    api-server)
      exec "$PYTHON" -c '
import os, sys, urllib.request
url = "http://127.0.0.1:%s/api/v2/monitor/health" % os.environ["AIRFLOW__API__PORT"]
try:
    with urllib.request.urlopen(url, timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print("api-server unhealthy: %s" % e, file=sys.stderr)
    sys.exit(1)'
      ;;
    "") die 2 "health: which role? usage: entrypoint.sh health {${ROLES// /|}}" ;;
    *) die 2 "health: unknown role '$role'; one of: $ROLES" ;;
  esac
}

print_config() {
  echo "WORKER_HOST=$WORKER_HOST"
  env | grep -E '^(AIRFLOW__|AIRFLOW_CONN_|AIRFLOW_HOME=|PYTHONPATH=)' | sort |
    sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#; s#^(AIRFLOW__API_AUTH__JWT_SECRET|AIRFLOW__API__SECRET_KEY|AIRFLOW__CORE__FERNET_KEY)=.*#\1=***#'
}

run_role() {
  local role=$1
  shift
  echo "$role" >"$AIRFLOW_ROLE_FILE" 2>/dev/null || log "cannot write $AIRFLOW_ROLE_FILE (health without a role will not work)"
  wait_for_db
  log "starting $role"
  case $role in
    api-server) exec airflow api-server --host "${AIRFLOW_API_HOST:-0.0.0.0}" --port "$AIRFLOW__API__PORT" "$@" ;;
    scheduler) exec airflow scheduler "$@" ;;
    dag-processor) exec airflow dag-processor "$@" ;;
    triggerer) exec airflow triggerer "$@" ;;
    # exec: SIGTERM goes straight to Celery, whose default is a warm shutdown (running tasks finish first).
    worker)
      exec airflow celery worker --celery-hostname "$WORKER_HOST" \
        --concurrency "${AIRFLOW__CELERY__WORKER_CONCURRENCY:-8}" "$@"
      ;;
  esac
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || die 2 "usage: entrypoint.sh {${ROLES// /|}|migrate|health ROLE|config|airflow ARGS...}"
  shift
  case $cmd in
    api-server | scheduler | dag-processor | triggerer | worker | migrate | health | config | print-setting | airflow | celery) ;;
    *) die 2 "unknown role '$cmd'; one of: $ROLES migrate health config print-setting airflow celery" ;;
  esac
  load_env_file "$AIRFLOW_ENV_FILE"
  derive_settings
  case $cmd in
    api-server | scheduler | dag-processor | triggerer | worker) run_role "$cmd" "$@" ;;
    migrate)
      AIRFLOW_WAIT_FOR_MIGRATIONS=false wait_for_db
      # With the FAB auth manager this migrates FAB's tables too; then the users from the secrets (ADR 0006).
      airflow db migrate "$@" || die $? "airflow db migrate failed (exit $?): see its output above"
      exec "$PYTHON" -m platform_users
      ;;
    health) health "$@" ;;
    config) print_config ;;
    print-setting)
      [[ $# -eq 1 && $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die 2 "usage: entrypoint.sh print-setting NAME"
      [[ -n ${!1:-} ]] || die 1 "$1 is not set"
      printf '%s' "${!1}" # no newline: Airflow's *_CMD settings take the output as the value
      ;;
    celery)
      if [[ ${1:-} == worker ]]; then
        shift
        run_role worker "$@"
      fi
      exec celery "$@"
      ;;
    airflow) exec airflow "$@" ;;
  esac
}

main "$@"
