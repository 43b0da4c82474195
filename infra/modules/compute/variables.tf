variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "env" {
  description = "Environment name (dev, prod): the scaler's CloudWatch `env` dimension."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks (the Cloud Map private DNS namespace that names the API lives in it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "tasks_security_group_id" {
  description = "Security group of every task."
  type        = string
}

variable "images" {
  description = "Container image URIs: airflow, dagsync and services (scaler + healthcheck)."
  type = object({
    airflow  = string
    dagsync  = string
    services = string
  })
}

variable "ecr_repository_names" {
  description = "ECR repositories the execution roles may pull from (same account and region)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Customer-managed key (log group encryption)."
  type        = string
}

variable "kms_alias_name" {
  description = "Alias of the customer-managed key; IAM policies scope KMS use by it (known at plan time)."
  type        = string
}

variable "app_secret_name" {
  description = "Name of the Airflow keys secret (jwt_secret, api_secret_key, fernet_key)."
  type        = string
}

variable "app_secret_arn" {
  description = "ARN of the Airflow keys secret."
  type        = string
}

variable "redis_auth_secret_name" {
  description = "Name of the Redis AUTH token secret."
  type        = string
}

variable "redis_auth_secret_arn" {
  description = "ARN of the Redis AUTH token secret."
  type        = string
}

variable "redis_url_secret_name" {
  description = "Name of the secret holding the full rediss:// broker URL (scaler, healthcheck)."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "ARN of the secret holding the full rediss:// broker URL."
  type        = string
}

variable "db_instance_identifier" {
  description = "RDS instance identifier (scopes the RDS-managed master secret in IAM)."
  type        = string
}

variable "db_master_secret_arn" {
  description = "ARN of the RDS-managed master secret (JSON: username, password)."
  type        = string
}

variable "db_address" {
  description = "RDS endpoint host."
  type        = string
}

variable "db_port" {
  description = "RDS port."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Metadata database name."
  type        = string
}

variable "redis_host" {
  description = "Redis primary endpoint."
  type        = string
}

variable "redis_port" {
  description = "Redis port."
  type        = number
  default     = 6379
}

variable "dags_bucket_name" {
  description = "The org-wide DAG bucket, <org>-airflow-dags (infra/bootstrap); the sidecars read <dags_prefix> of it."
  type        = string
}

variable "dags_prefix" {
  description = "Key prefix of this env's DAGs in the DAG bucket (no leading slash, trailing slash); null = \"<env>/\". Plugins live under plugins/<env>/, outside it."
  type        = string
  default     = null

  validation {
    condition     = var.dags_prefix == null || can(regex("^[^/].*/$", var.dags_prefix))
    error_message = "dags_prefix must not start with a slash and must end with one."
  }
}

variable "dags_kms_key_arn" {
  description = "CMK of the DAG bucket (bootstrap output dags_kms_key_arn): the sidecars' kms:Decrypt. null = any key with alias dags_kms_alias_name (always required too)."
  type        = string
  default     = null
}

variable "dags_kms_alias_name" {
  description = "Alias of the DAG bucket's CMK; null = alias/<org>-airflow-dags (org from name_prefix)."
  type        = string
  default     = null
}

variable "logs_bucket_name" {
  description = "S3 bucket of the Airflow task logs."
  type        = string
}

variable "logs_prefix" {
  description = "Key prefix of the task logs."
  type        = string
  default     = "task-logs"
}

variable "healthcheck_root_path" {
  description = "HEALTHCHECK_ROOT_PATH: the ALB routes <prefix>/* (page, /status, /metrics, API docs) to the health aggregator (modules/edge)."
  type        = string
  default     = "/platform"
}

variable "dags_storage" {
  description = "Where dagsync publishes DAGs: \"efs\" (shared access point, default) or \"ephemeral\" (task-local volume). See docs/adr/0009-dags-storage-efs-vs-ephemeral.md."
  type        = string
  default     = "efs"

  validation {
    condition     = contains(["efs", "ephemeral"], var.dags_storage)
    error_message = "dags_storage must be \"efs\" or \"ephemeral\"."
  }
}

variable "efs_file_system_id" {
  description = "EFS file system (dags_storage = \"efs\")."
  type        = string
  default     = null
}

variable "efs_access_point_ids" {
  description = "EFS access points by name; the shared DAG volume uses \"dags\" (dags_storage = \"efs\")."
  type        = map(string)
  default     = {}
}

variable "efs_subnet_ids" {
  description = "Subnets with an EFS mount target (modules/data output efs_subnet_ids): tasks that mount the shared volume run only there (One Zone EFS has one). Empty = subnet_ids."
  type        = list(string)
  default     = []
}

variable "api_target_group_arn" {
  description = "ALB target group of the api-server."
  type        = string
}

variable "healthcheck_target_group_arn" {
  description = "ALB target group of the healthcheck service."
  type        = string
}

variable "api_base_url" {
  description = "Public base URL of the UI and API (AIRFLOW__API__BASE_URL: links, redirects), i.e. the ALB's certificate host. Tasks do not use it: they call the API by its Cloud Map name (docs/adr/0011-how-tasks-reach-the-api.md)."
  type        = string
}

variable "healthcheck_slo_spec" {
  description = "The SLOs as JSON (modules/observability output slo_spec): the health aggregator shows their budget state in /status. Empty = no SLO probe."
  type        = string
  default     = ""
}

variable "dagsync_max_age" {
  description = "The one staleness limit of the DAG sync sidecar, in seconds: its ECS health check (DAGSYNC_MAX_AGE) and the health aggregator's dagsync probe (HEALTHCHECK_DAGSYNC_MAX_AGE)."
  type        = number
  default     = 300

  validation {
    condition     = var.dagsync_max_age >= 30
    error_message = "dagsync_max_age must be at least 30 seconds (several sync intervals)."
  }
}

variable "log_retention_days" {
  description = "Retention of the service log groups (CloudWatch), in days."
  type        = number
  default     = 30
}

variable "container_insights" {
  description = "ECS Container Insights: enabled or enhanced."
  type        = string
  default     = "enabled"
}

variable "sizes" {
  description = "Fargate cpu/memory and desired count per service (worker desired count is owned by the scaler after create)."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
  }))
  default = {
    "api-server"    = { cpu = 1024, memory = 2048, desired_count = 1 }
    "scheduler"     = { cpu = 1024, memory = 2048, desired_count = 1 }
    "dag-processor" = { cpu = 1024, memory = 2048, desired_count = 1 }
    "triggerer"     = { cpu = 512, memory = 1024, desired_count = 1 }
    "worker"        = { cpu = 2048, memory = 4096, desired_count = 1 }
    "scaler"        = { cpu = 256, memory = 512, desired_count = 1 }
    "healthcheck"   = { cpu = 256, memory = 512, desired_count = 1 }
  }
}

variable "worker_concurrency" {
  description = "Celery worker concurrency (also the scaler's SCALER_WORKER_CONCURRENCY)."
  type        = number
  default     = 8
}

variable "worker_fargate_spot_weight" {
  description = "Weight of FARGATE_SPOT in the workers' capacity provider strategy (0 = on-demand only)."
  type        = number
  default     = 0
}

variable "health_check" {
  description = "Container health check timings (ECS)."
  type = object({
    start_period = number
    interval     = number
    timeout      = number
    retries      = number
  })
  default = {
    start_period = 120
    interval     = 30
    timeout      = 30 # `airflow jobs check` imports Airflow: seconds of CPU on a fractional vCPU
    retries      = 5
  }

  validation {
    condition     = var.health_check.start_period >= 120 && var.health_check.interval >= 30 && var.health_check.retries >= 5
    error_message = "health_check below the floors: start_period >= 120, interval >= 30, retries >= 5."
  }
}

variable "dagsync_health_check_interval" {
  description = "Seconds between the dagsync sidecar's health checks. Every Airflow container waits for the first one to pass (dependsOn HEALTHY), and ECS runs it one interval after the start: this is the task's start delay. The lean check costs ~0.09 CPU-s (docs/adr/0001-dag-sync.md §9)."
  type        = number
  default     = 10

  validation {
    condition     = var.dagsync_health_check_interval >= 5 && var.dagsync_health_check_interval <= 300
    error_message = "dagsync_health_check_interval must be between 5 and 300 seconds (the ECS limits)."
  }
}

variable "worker_stop_timeout" {
  description = "Seconds a worker gets between SIGTERM and SIGKILL (Fargate maximum 120)."
  type        = number
  default     = 120

  validation {
    condition     = var.worker_stop_timeout >= 2 && var.worker_stop_timeout <= 120
    error_message = "worker_stop_timeout must be within 2..120 (Fargate's limit)."
  }
}

variable "scaling_mode" {
  description = "Who owns the workers' desired count: \"scaler\" (SCALER_APPLY=ecs, ADR 0002 default) or \"aas\" (scaler publishes only, Application Auto Scaling applies)."
  type        = string
  default     = "scaler"

  validation {
    condition     = contains(["scaler", "aas"], var.scaling_mode)
    error_message = "scaling_mode must be \"scaler\" or \"aas\"."
  }
}

variable "scaler" {
  description = "Scaler settings (docs/adr/0002-scaling.md)."
  type = object({
    namespace   = optional(string, "Airflow/Scaler")
    queues      = optional(string, "default")
    min_workers = optional(number, 0)
    max_workers = optional(number, 10)
    schedule    = optional(string, "")
    timezone    = optional(string, "UTC")
  })
  default = {}
}

variable "dagsync_command" {
  description = "Command of the dagsync sidecar (the image's entrypoint is `dagsync`)."
  type        = list(string)
  default     = ["run"]
}

variable "extra_environment" {
  description = "Extra plain (non-secret) environment per container: a service name (its main container), \"dagsync\" (every sidecar) or \"migrate\", merged over the defaults."
  type        = map(map(string))
  default     = {}
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "admin_username" {
  description = "Username of Airflow's first admin, written once into the <name_prefix>-airflow-admin secret (docs/adr/0006-secrets-and-sso.md)."
  type        = string
  default     = "admin"
}

variable "ci_username" {
  description = "Username of the dag-sync workflow's machine account (role CI: read DAGs and import errors), written once into the <name_prefix>-airflow-ci secret."
  type        = string
  default     = "ci-dag-sync" # must differ from admin_username (the migration task refuses one user for both)
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the admin and CI secrets (0 = delete at once; dev only). Pass the security module's value."
  type        = number
  default     = 30
}
