# ECS cluster, task definitions and services. Every Airflow task carries the dagsync sidecar
# (docs/adr/0001-dag-sync.md, docs/adr/0009-dags-storage-efs-vs-ephemeral.md); the scaler owns the workers'
# desired count (docs/adr/0002-scaling.md); secrets come from Secrets Manager only (docs/adr/0006-secrets-and-sso.md);
# tasks reach the API by its Cloud Map name inside the VPC (docs/adr/0011-how-tasks-reach-the-api.md); the one-off
# `migrate` task migrates the metadata DB on every deploy (docs/adr/0008-local-stack-and-config.md).
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region       = data.aws_region.current.name
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  cluster_name = "${var.name_prefix}-cluster"
  efs          = var.dags_storage == "efs"

  # ARNs built from names, so every IAM policy is known at plan time (reviewable, rendered by `make iam-docs`).
  arn_prefix = {
    ecs = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
    sm  = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret"
  }
  kms_keys_arn         = "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"
  cluster_arn          = "${local.arn_prefix.ecs}:cluster/${local.cluster_name}"
  worker_svc_name      = "${var.name_prefix}-worker"
  worker_svc_arn       = "${local.arn_prefix.ecs}:service/${local.cluster_name}/${local.worker_svc_name}"
  tasks_arn            = "${local.arn_prefix.ecs}:task/${local.cluster_name}/*"
  app_secret_arn       = "${local.arn_prefix.sm}:${var.app_secret_name}-??????"
  redis_secret_arn     = "${local.arn_prefix.sm}:${var.redis_auth_secret_name}-??????"
  redis_url_secret_arn = "${local.arn_prefix.sm}:${var.redis_url_secret_name}-??????"
  db_secret_arn        = "${local.arn_prefix.sm}:rds!db-*"
  db_instance_arn      = "arn:${local.partition}:rds:${local.region}:${local.account_id}:db:${var.db_instance_identifier}"
  ecr_repo_arns        = [for r in var.ecr_repository_names : "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${r}"]
  dags_bucket_arn      = "arn:${local.partition}:s3:::${var.dags_bucket_name}"
  dags_prefix          = coalesce(var.dags_prefix, "${var.env}/") # s3://<org>-airflow-dags/<env>/, docs/adr/0009
  logs_bucket_arn      = "arn:${local.partition}:s3:::${var.logs_bucket_name}"
  efs_arn_pattern      = "arn:${local.partition}:elasticfilesystem:${local.region}:${local.account_id}:file-system/*"
  efs_name_tag         = "${var.name_prefix}-efs"
  scaler_namespace     = var.scaler.namespace
  health_namespace     = "AirflowPlatform/Health"

  airflow_components = ["api-server", "scheduler", "dag-processor", "triggerer", "worker"]
  service_names      = concat(local.airflow_components, ["scaler", "healthcheck"])
  # Task definitions: every service's, plus the one-off migration task (no service; `infra apply` runs it).
  task_families = concat(local.service_names, ["migrate"])
  sizes         = merge({ migrate = { cpu = 1024, memory = 2048, desired_count = 0 } }, var.sizes)

  log_group = { for s in local.task_families : s => "/ecs/${var.name_prefix}/${s}" }

  # The API inside the VPC: Cloud Map A records of the api-server tasks, plain HTTP on the task port
  # (docs/adr/0011-how-tasks-reach-the-api.md). The ALB's certificate only has to cover the UI's host name.
  api_namespace    = "${var.name_prefix}.internal"
  api_internal_url = "http://api-server.${local.api_namespace}:8080"

  # --- container pieces -------------------------------------------------------------------------------------------
  shared_mount = "/opt/airflow/shared" # dagsync dest = <shared>/dags, state = <shared>/.dagsync-dags (outside dest)
  dags_folder  = "${local.shared_mount}/dags"

  health = {
    startPeriod = var.health_check.start_period
    interval    = var.health_check.interval
    timeout     = var.health_check.timeout
    retries     = var.health_check.retries
  }

  http_probe = "python -c \"import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=8)\""

  airflow = {
    "api-server" = {
      command = ["api-server", "--port", "8080"]
      port    = 8080
      probe   = "${local.http_probe} http://127.0.0.1:8080/api/v2/monitor/health"
    }
    "scheduler" = {
      command = ["scheduler"]
      port    = null
      # AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True (images/airflow/airflow.env) serves :8974/health.
      probe = "${local.http_probe} http://127.0.0.1:8974/health"
    }
    "dag-processor" = {
      command = ["dag-processor"]
      port    = null
      probe   = "airflow jobs check --job-type DagProcessorJob --local"
    }
    "triggerer" = {
      command = ["triggerer"]
      port    = null
      probe   = "airflow jobs check --job-type TriggererJob --local"
    }
    "worker" = {
      command = ["celery", "worker", "--concurrency", tostring(var.worker_concurrency)]
      port    = null
      probe   = "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping -d celery@$HOSTNAME"
    }
  }

  aws_env = { AWS_REGION = local.region, AWS_DEFAULT_REGION = local.region }

  airflow_env = merge(local.aws_env, {
    AIRFLOW_DB_HOST                          = var.db_address
    AIRFLOW_DB_PORT                          = tostring(var.db_port)
    AIRFLOW_DB_NAME                          = var.db_name
    AIRFLOW_DB_SSLMODE                       = "require"
    AIRFLOW_DB_SECRET_ARN                    = var.db_master_secret_arn # re-read after a rotation (docs/adr/0014)
    AIRFLOW_REDIS_HOST                       = var.redis_host
    AIRFLOW_REDIS_PORT                       = tostring(var.redis_port)
    AIRFLOW_REDIS_TLS                        = "true"
    AIRFLOW__CORE__DAGS_FOLDER               = local.dags_folder
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL  = "${local.api_internal_url}/execution/"
    AIRFLOW__API__BASE_URL                   = var.api_base_url
    AIRFLOW__CELERY__WORKER_CONCURRENCY      = tostring(var.worker_concurrency)
    AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER = "s3://${var.logs_bucket_name}/${var.logs_prefix}"
  })

  db_secrets = {
    USER     = "${var.db_master_secret_arn}:username::"
    PASSWORD = "${var.db_master_secret_arn}:password::"
  }

  airflow_secrets = {
    AIRFLOW_DB_USER               = local.db_secrets.USER
    AIRFLOW_DB_PASSWORD           = local.db_secrets.PASSWORD
    AIRFLOW_REDIS_PASSWORD        = var.redis_auth_secret_arn
    AIRFLOW__API_AUTH__JWT_SECRET = "${var.app_secret_arn}:jwt_secret::"
    AIRFLOW__API__SECRET_KEY      = "${var.app_secret_arn}:api_secret_key::"
    AIRFLOW__CORE__FERNET_KEY     = "${var.app_secret_arn}:fernet_key::"
  }

  scaler_env = merge(local.aws_env, {
    SCALER_APPLY              = var.scaling_mode == "scaler" ? "ecs" : "none"
    SCALER_ECS_CLUSTER        = local.cluster_name
    SCALER_ECS_SERVICE        = local.worker_svc_name
    SCALER_DB_SECRET_ARN      = var.db_master_secret_arn
    SCALER_DB_HOST            = var.db_address
    SCALER_DB_PORT            = tostring(var.db_port)
    SCALER_DB_NAME            = var.db_name
    SCALER_QUEUES             = var.scaler.queues
    SCALER_WORKER_CONCURRENCY = tostring(var.worker_concurrency)
    SCALER_MIN_WORKERS        = tostring(var.scaler.min_workers)
    SCALER_MAX_WORKERS        = tostring(var.scaler.max_workers)
    SCALER_SCHEDULE           = var.scaler.schedule
    SCALER_TIMEZONE           = var.scaler.timezone
    SCALER_CW_NAMESPACE       = local.scaler_namespace
    SCALER_CW_ENV             = var.env
    SCALER_CW_SERVICE         = local.worker_svc_name
    SCALER_METRICS_PORT       = "9102"
  })

  # Names follow services/healthcheck/config.py. The Postgres probe reads the RDS-managed master secret (by ARN,
  # username/password) + host/port/name, and reads it again after a failed connect (rotation); see
  # services/platform_common/secrets.py and docs/adr/0006-secrets-and-sso.md.
  healthcheck_env = merge(local.aws_env, {
    HEALTHCHECK_PORT                = "8000"
    HEALTHCHECK_ROOT_PATH           = var.healthcheck_root_path
    HEALTHCHECK_AIRFLOW_URL         = local.api_internal_url
    HEALTHCHECK_POSTGRES_ENABLED    = "true"
    HEALTHCHECK_POSTGRES_SECRET_ARN = var.db_master_secret_arn
    HEALTHCHECK_POSTGRES_HOST       = var.db_address
    HEALTHCHECK_POSTGRES_PORT       = tostring(var.db_port)
    HEALTHCHECK_POSTGRES_NAME       = var.db_name
    HEALTHCHECK_DAGSYNC_ENABLED     = local.efs ? "true" : "false"
    HEALTHCHECK_DAGSYNC_STATE_DIRS  = local.efs ? "${local.shared_mount}/.dagsync-dags" : ""
    HEALTHCHECK_DAGSYNC_MAX_AGE     = tostring(var.dagsync_max_age)
    HEALTHCHECK_SCALER_ENABLED      = "false" # no service discovery for the scaler's task IP; the ECS probe covers it
    HEALTHCHECK_ECS_ENABLED         = "true"
    HEALTHCHECK_ECS_CLUSTER         = local.cluster_name
    HEALTHCHECK_ECS_SERVICES        = join(",", [for s in local.service_names : "${var.name_prefix}-${s}"])
    HEALTHCHECK_ECS_WORKER_SERVICE  = local.worker_svc_name
    HEALTHCHECK_ALARMS_ENABLED      = "true"
    HEALTHCHECK_ALARMS_PREFIX       = "${var.name_prefix}-"
    HEALTHCHECK_PUBLISH_ENABLED     = "true"
    HEALTHCHECK_PUBLISH_NAMESPACE   = local.health_namespace
    HEALTHCHECK_PUBLISH_ENV         = var.env
    HEALTHCHECK_SLO_ENABLED         = var.healthcheck_slo_spec == "" ? "false" : "true"
    HEALTHCHECK_SLO_SPEC            = var.healthcheck_slo_spec
  })

  dagsync_container = {
    name                   = "dagsync"
    image                  = var.images.dagsync
    essential              = false # a dead sidecar leaves the last good DAG set in place; the "sync stale" alarm fires
    command                = var.dagsync_command
    user                   = "50000"
    readonlyRootFilesystem = true
    environment = [for k, v in merge(local.aws_env, {
      DAGSYNC_SOURCE       = "s3://${var.dags_bucket_name}/${local.dags_prefix}"
      DAGSYNC_DEST         = local.dags_folder
      DAGSYNC_METRICS_PORT = "9101"
      DAGSYNC_MAX_AGE      = tostring(var.dagsync_max_age) # the one staleness limit: sidecar health check and /status
    }, lookup(var.extra_environment, "dagsync", {})) : { name = k, value = v }]
    portMappings = [{ containerPort = 9101, protocol = "tcp" }]
    mountPoints  = [{ sourceVolume = "shared", containerPath = local.shared_mount, readOnly = false }]
    # Its own interval: the Airflow containers start once it passed (docs/adr/0001-dag-sync.md §9). The lean check
    # takes ~0.1 s; its timeout stays below the shortest interval ECS allows.
    healthCheck = merge(local.health, { interval = var.dagsync_health_check_interval, timeout = 4, command = ["CMD", "dagsync", "check"] })
  }
}

# --- cluster ------------------------------------------------------------------------------------------------------
resource "aws_ecs_cluster" "this" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338: retention is a per-env variable (dev 30 days, prod 365); task logs live in S3 (docs/adr/0005-logging.md)
  for_each = local.log_group

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- IAM: one execution role and one task role per service, trusted only by ECS tasks of this account ----------------
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.arn_prefix.ecs}:*"]
    }
  }
}

locals {
  needs_secrets = {
    "api-server"    = ["app", "redis", "db"]
    "scheduler"     = ["app", "redis", "db"]
    "dag-processor" = ["app", "redis", "db"]
    "triggerer"     = ["app", "redis", "db"]
    "worker"        = ["app", "redis", "db"]
    "scaler"        = ["redis_url"]
    "healthcheck"   = ["redis_url"]
    "migrate"       = ["app", "redis", "db", "admin", "ci"] # + the FAB users' secrets (auth.tf)
  }
  named_secret_arns = merge(
    { app = local.app_secret_arn, redis = local.redis_secret_arn, redis_url = local.redis_url_secret_arn },
    local.auth_secret_arns,
  )

  kms_via = { for svc in ["secretsmanager", "s3"] : svc => {
    "ForAnyValue:StringEquals" = { "kms:ResourceAliases" = [var.kms_alias_name] }
    StringEquals               = { "kms:ViaService" = "${svc}.${local.region}.amazonaws.com" }
  } }

  # The DAG bucket has its own CMK (infra/bootstrap/dags.tf): that key (by ARN when given, else by its alias) only,
  # and only through S3.
  dags_key_statement = {
    Sid = "DagBundleKey", Effect = "Allow", Action = ["kms:Decrypt"], Resource = coalesce(var.dags_kms_key_arn, local.kms_keys_arn)
    Condition = {
      "ForAnyValue:StringEquals" = { "kms:ResourceAliases" = [coalesce(var.dags_kms_alias_name, "alias/${split("-airflow-", var.name_prefix)[0]}-airflow-dags")] }
      StringEquals               = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
    }
  }

  db_secret_condition = { StringEquals = { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" = local.db_instance_arn } }

  # Services that read the DB master secret themselves (platform_common.secrets): the secret, and the key only for it.
  db_secret_reader = [
    { Sid = "DbMasterSecret", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = local.db_secret_arn, Condition = local.db_secret_condition },
    {
      Sid       = "DbMasterSecretKey", Effect = "Allow", Action = ["kms:Decrypt"], Resource = local.kms_keys_arn
      Condition = merge(local.kms_via.secretsmanager, { StringLike = { "kms:EncryptionContext:SecretARN" = local.db_secret_arn } })
    },
  ]

  execution_statements = { for s in local.task_families : s => concat(
    [
      { Sid = "EcrAuth", Effect = "Allow", Action = ["ecr:GetAuthorizationToken"], Resource = "*" },
      { Sid = "EcrPull", Effect = "Allow", Action = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], Resource = local.ecr_repo_arns },
      { Sid = "Logs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group[s]}:*"] },
      { Sid = "NamedSecrets", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = [for k in local.needs_secrets[s] : local.named_secret_arns[k] if k != "db"] },
      { Sid = "SecretsKey", Effect = "Allow", Action = ["kms:Decrypt"], Resource = local.kms_keys_arn, Condition = local.kms_via.secretsmanager },
    ],
    contains(local.needs_secrets[s], "db") ? [
      { Sid = "DbMasterSecret", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = local.db_secret_arn, Condition = local.db_secret_condition },
    ] : [],
  ) }

  # The Airflow components read the DB master secret again when RDS rotated the password (images/airflow/
  # platform_db_auth.py, docs/adr/0014-db-secret-rotation.md).
  airflow_task_statements = concat(
    local.db_secret_reader,
    [
      { Sid = "TaskLogsObjects", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject"], Resource = ["${local.logs_bucket_arn}/${var.logs_prefix}/*"] },
      { Sid = "TaskLogsList", Effect = "Allow", Action = ["s3:ListBucket"], Resource = local.logs_bucket_arn, Condition = { StringLike = { "s3:prefix" = ["${var.logs_prefix}/*"] } } },
      { Sid = "DagBundleObjects", Effect = "Allow", Action = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"], Resource = ["${local.dags_bucket_arn}/${local.dags_prefix}*"] },
      { Sid = "DagBundleList", Effect = "Allow", Action = ["s3:ListBucket"], Resource = local.dags_bucket_arn, Condition = { StringLike = { "s3:prefix" = ["${local.dags_prefix}*"] } } },
      local.dags_key_statement,
      { Sid = "BucketKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = local.kms_keys_arn, Condition = local.kms_via.s3 },
    ],
    local.efs ? [
      { Sid = "SharedDags", Effect = "Allow", Action = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], Resource = local.efs_arn_pattern, Condition = { StringEquals = { "aws:ResourceTag/Name" = local.efs_name_tag } } },
    ] : [],
  )

  task_statements = merge(
    { for s in local.airflow_components : s => local.airflow_task_statements },
    {
      scaler = concat(local.db_secret_reader, [
        { Sid = "WorkerService", Effect = "Allow", Action = ["ecs:DescribeServices", "ecs:UpdateService"], Resource = local.worker_svc_arn },
        { Sid = "ListWorkerTasks", Effect = "Allow", Action = ["ecs:ListTasks"], Resource = "${local.arn_prefix.ecs}:container-instance/${local.cluster_name}/*", Condition = { ArnEquals = { "ecs:cluster" = local.cluster_arn } } },
        { Sid = "WorkerTaskProtection", Effect = "Allow", Action = ["ecs:DescribeTasks", "ecs:GetTaskProtection", "ecs:UpdateTaskProtection"], Resource = local.tasks_arn },
        { Sid = "PublishMetrics", Effect = "Allow", Action = ["cloudwatch:PutMetricData"], Resource = "*", Condition = { StringEquals = { "cloudwatch:namespace" = local.scaler_namespace } } },
      ])
      healthcheck = concat(
        local.db_secret_reader,
        [
          { Sid = "ServiceCounts", Effect = "Allow", Action = ["ecs:DescribeServices"], Resource = "${local.arn_prefix.ecs}:service/${local.cluster_name}/*" },
          { Sid = "AlarmStates", Effect = "Allow", Action = ["cloudwatch:DescribeAlarms"], Resource = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name_prefix}-*" },
          { Sid = "PublishHealth", Effect = "Allow", Action = ["cloudwatch:PutMetricData"], Resource = "*", Condition = { StringEquals = { "cloudwatch:namespace" = local.health_namespace } } },
          { Sid = "ReadSloMetrics", Effect = "Allow", Action = ["cloudwatch:GetMetricData"], Resource = "*" },
        ],
        local.efs ? [
          { Sid = "ReadSyncStatus", Effect = "Allow", Action = ["elasticfilesystem:ClientMount"], Resource = local.efs_arn_pattern, Condition = { StringEquals = { "aws:ResourceTag/Name" = local.efs_name_tag } } },
        ] : [],
      )
    },
  )
}

resource "aws_iam_role" "execution" {
  for_each = toset(local.task_families)

  name               = "${var.name_prefix}-${each.key}-exec"
  description        = "ECS execution role of ${each.key}: pull images, write its log group, read its secrets"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  for_each = toset(local.task_families)

  name   = "execution"
  role   = aws_iam_role.execution[each.key].id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.execution_statements[each.key] })
}

resource "aws_iam_role" "task" {
  for_each = toset(local.service_names)

  name               = "${var.name_prefix}-${each.key}-task"
  description        = "ECS task role of ${each.key}: only the AWS APIs it calls"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  for_each = toset(local.service_names)

  name   = "task"
  role   = aws_iam_role.task[each.key].id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.task_statements[each.key] })
}

# --- task definitions -------------------------------------------------------------------------------------------------
locals {
  log_config = { for s in local.task_families : s => {
    logDriver = "awslogs"
    options = {
      "awslogs-group"         = local.log_group[s]
      "awslogs-region"        = local.region
      "awslogs-stream-prefix" = s
    }
  } }

  airflow_containers = { for s in local.airflow_components : s => [
    merge(local.dagsync_container, {
      logConfiguration = merge(local.log_config[s], { options = merge(local.log_config[s].options, { "awslogs-stream-prefix" = "dagsync" }) })
    }),
    {
      name         = s
      image        = var.images.airflow
      essential    = true
      command      = local.airflow[s].command
      user         = "50000"
      stopTimeout  = s == "worker" ? var.worker_stop_timeout : 60
      portMappings = local.airflow[s].port == null ? [] : [{ containerPort = local.airflow[s].port, protocol = "tcp" }]
      environment  = [for k, v in merge(local.airflow_env, lookup(var.extra_environment, s, {})) : { name = k, value = v }]
      secrets      = [for k, v in local.airflow_secrets : { name = k, valueFrom = v }]
      # Plugins ship in the image: nothing is mounted over /opt/airflow/plugins (docs/adr/0009).
      mountPoints      = [{ sourceVolume = "shared", containerPath = local.shared_mount, readOnly = true }]
      dependsOn        = [{ containerName = "dagsync", condition = "HEALTHY" }]
      healthCheck      = merge(local.health, { command = ["CMD-SHELL", "${local.airflow[s].probe} || exit 1"] })
      logConfiguration = local.log_config[s]
    },
  ] }

  service_containers = {
    scaler = [{
      name                   = "scaler"
      image                  = var.images.services
      essential              = true
      command                = ["scaler", "run"]
      readonlyRootFilesystem = true
      portMappings           = [{ containerPort = 9102, protocol = "tcp" }]
      environment            = [for k, v in merge(local.scaler_env, lookup(var.extra_environment, "scaler", {})) : { name = k, value = v }]
      secrets                = [{ name = "SCALER_REDIS_URL", valueFrom = var.redis_url_secret_arn }]
      healthCheck            = merge(local.health, { command = ["CMD-SHELL", "${local.http_probe} http://127.0.0.1:9102/metrics || exit 1"] })
      logConfiguration       = local.log_config["scaler"]
    }]
    healthcheck = [{
      name                   = "healthcheck"
      image                  = var.images.services
      essential              = true
      command                = ["healthcheck", "serve", "--host", "0.0.0.0", "--port", "8000"]
      readonlyRootFilesystem = true
      portMappings           = [{ containerPort = 8000, protocol = "tcp" }]
      environment            = [for k, v in merge(local.healthcheck_env, lookup(var.extra_environment, "healthcheck", {})) : { name = k, value = v }]
      secrets                = [{ name = "HEALTHCHECK_REDIS_URL", valueFrom = var.redis_url_secret_arn }]
      mountPoints            = local.efs ? [{ sourceVolume = "shared", containerPath = local.shared_mount, readOnly = true }] : []
      healthCheck            = merge(local.health, { command = ["CMD-SHELL", "${local.http_probe} http://127.0.0.1:8000/health || exit 1"] })
      logConfiguration       = local.log_config["healthcheck"]
    }]
  }

  # The one-off schema migration (`entrypoint.sh migrate` = `airflow db migrate`, then the FAB users from the admin and
  # CI secrets), run by `infra apply` and the deploy workflow after the data stores exist and before the services
  # count as rolled out. No task role: it calls no AWS API. Only this task reads the users' secrets.
  migrate_secrets = merge(local.airflow_secrets, {
    AIRFLOW_ADMIN_USERNAME = "${aws_secretsmanager_secret.auth["admin"].arn}:username::"
    AIRFLOW_ADMIN_PASSWORD = "${aws_secretsmanager_secret.auth["admin"].arn}:password::"
    AIRFLOW_CI_USERNAME    = "${aws_secretsmanager_secret.auth["ci"].arn}:username::"
    AIRFLOW_CI_PASSWORD    = "${aws_secretsmanager_secret.auth["ci"].arn}:password::"
  })
  migrate_containers = [{
    name             = "migrate"
    image            = var.images.airflow
    essential        = true
    command          = ["migrate"]
    user             = "50000"
    environment      = [for k, v in merge(local.airflow_env, lookup(var.extra_environment, "migrate", {})) : { name = k, value = v }]
    secrets          = [for k, v in local.migrate_secrets : { name = k, valueFrom = v }]
    logConfiguration = local.log_config["migrate"]
  }]

  containers = merge(local.airflow_containers, local.service_containers, { migrate = local.migrate_containers })
}

resource "aws_ecs_task_definition" "this" {
  #checkov:skip=CKV_AWS_336: the Airflow containers write to their home (pid files, generated config); dagsync, scaler and healthcheck run read-only
  for_each = toset(local.task_families)

  family                   = "${var.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(local.sizes[each.key].cpu)
  memory                   = tostring(local.sizes[each.key].memory)
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = each.key == "migrate" ? null : aws_iam_role.task[each.key].arn
  container_definitions    = jsonencode(local.containers[each.key])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Shared DAG folder: the EFS "dags" access point, or a task-local volume (dags_storage = "ephemeral").
  dynamic "volume" {
    for_each = contains(local.airflow_components, each.key) || (each.key == "healthcheck" && local.efs) ? ["shared"] : []
    content {
      name = "shared"

      dynamic "efs_volume_configuration" {
        for_each = local.efs ? [1] : []
        content {
          file_system_id     = var.efs_file_system_id
          transit_encryption = "ENABLED"
          authorization_config {
            access_point_id = var.efs_access_point_ids["dags"]
            iam             = "ENABLED"
          }
        }
      }
    }
  }

  # The migration runs to completion; it has no health check to run (infra/policies/health.rego).
  tags = merge(var.tags, each.key == "migrate" ? { TaskKind = "one-off" } : {})
}

# --- the API's name inside the VPC (docs/adr/0011-how-tasks-reach-the-api.md) ---------------------------------------
resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = local.api_namespace
  description = "Private names of ${var.name_prefix}'s ECS services (workers and the health aggregator reach the API here)"
  vpc         = var.vpc_id
  tags        = var.tags
}

resource "aws_service_discovery_service" "api" {
  name = "api-server"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  # ECS registers and deregisters the tasks itself, following their container health.
  health_check_custom_config {
    failure_threshold = 1
  }

  tags = var.tags
}

# --- services ------------------------------------------------------------------------------------------------------
locals {
  lb_target = {
    "api-server"  = { arn = var.api_target_group_arn, port = 8080 }
    "healthcheck" = { arn = var.healthcheck_target_group_arn, port = 8000 }
  }
  fixed_services = [for s in local.service_names : s if s != "worker"]
  # Tasks that mount the shared EFS volume can start only in a subnet with a mount target (One Zone: one subnet).
  mounts_efs = { for s in local.service_names : s => local.efs && (contains(local.airflow_components, s) || s == "healthcheck") }
  subnets_of = { for s in local.service_names : s => local.mounts_efs[s] && length(var.efs_subnet_ids) > 0 ? var.efs_subnet_ids : var.subnet_ids }
}

resource "aws_ecs_service" "this" {
  for_each = toset(local.fixed_services)

  name                               = "${var.name_prefix}-${each.key}"
  cluster                            = aws_ecs_cluster.this.arn
  task_definition                    = aws_ecs_task_definition.this[each.key].arn
  desired_count                      = var.sizes[each.key].desired_count
  platform_version                   = "LATEST"
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  health_check_grace_period_seconds  = contains(keys(local.lb_target), each.key) ? 180 : null
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = local.subnets_of[each.key]
    security_groups  = [var.tasks_security_group_id]
    assign_public_ip = false
  }

  dynamic "service_registries" {
    for_each = each.key == "api-server" ? [aws_service_discovery_service.api.arn] : []
    content {
      registry_arn = service_registries.value
    }
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.lb_target), each.key) ? [local.lb_target[each.key]] : []
    content {
      target_group_arn = load_balancer.value.arn
      container_name   = each.key
      container_port   = load_balancer.value.port
    }
  }

  deployment_controller {
    type = "ECS"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this, aws_iam_role_policy.execution, aws_iam_role_policy.task]

  tags = var.tags
}

# Workers: desired count belongs to the scaler (or AAS) after create, see docs/adr/0002-scaling.md.
resource "aws_ecs_service" "worker" {
  name                               = local.worker_svc_name
  cluster                            = aws_ecs_cluster.this.arn
  task_definition                    = aws_ecs_task_definition.this["worker"].arn
  desired_count                      = var.sizes["worker"].desired_count
  platform_version                   = "LATEST"
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 0
    weight            = 1
  }

  dynamic "capacity_provider_strategy" {
    for_each = var.worker_fargate_spot_weight > 0 ? [1] : []
    content {
      capacity_provider = "FARGATE_SPOT"
      weight            = var.worker_fargate_spot_weight
    }
  }

  network_configuration {
    subnets          = local.subnets_of["worker"]
    security_groups  = [var.tasks_security_group_id]
    assign_public_ip = false
  }

  deployment_controller {
    type = "ECS"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this, aws_iam_role_policy.execution, aws_iam_role_policy.task]

  tags = var.tags
}
