variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "env" {
  description = "Environment name: the scaler's `env` metric dimension."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key of the SNS topic."
  type        = string
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "alarm_endpoints" {
  description = "Other subscribers of the alarm topic, e.g. { protocol = \"https\", endpoint = \"https://events.pagerduty.com/integration/<key>/enqueue\" }."
  type        = list(object({ protocol = string, endpoint = string }))
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_endpoints : contains(["https", "email", "email-json", "sqs", "lambda", "sms", "firehose"], e.protocol)])
    error_message = "alarm_endpoints: protocol must be one of https, email, email-json, sqs, lambda, sms, firehose."
  }
}

variable "require_alarm_subscriber" {
  description = "Fail the plan when the alarm topic has no subscriber (alarm_emails or alarm_endpoints). Set it in prod."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "service_names" {
  description = "ECS service names by component (api-server, scheduler, ..., worker)."
  type        = map(string)
}

variable "worker_service_name" {
  description = "ECS service of the Celery workers (the scaler's `service` dimension)."
  type        = string
}

variable "airflow_log_group_names" {
  description = "Log groups of the Airflow services; their dagsync streams feed the sync-freshness metric."
  type        = list(string)
}

variable "scaler_namespace" {
  description = "CloudWatch namespace of the scaler's metrics."
  type        = string
  default     = "Airflow/Scaler"
}

variable "dagsync_namespace" {
  description = "CloudWatch namespace of the DAG sync metrics (from log metric filters)."
  type        = string
  default     = "Airflow/DagSync"
}

variable "health_namespace" {
  description = "CloudWatch namespace of the health aggregator's metrics (HEALTHCHECK_PUBLISH_NAMESPACE)."
  type        = string
  default     = "AirflowPlatform/Health"
}

variable "dag_freshness_from_healthcheck" {
  description = "The sync-stale alarm reads the health aggregator's DagSyncWorstAge (needs the shared EFS state dir, dags_storage = \"efs\"); false: the sidecars' log metric SyncSuccess."
  type        = bool
  default     = true
}

variable "scaler_queues" {
  description = "Celery queues the scaler measures (SCALER_QUEUES): one latency line per queue on the dashboard."
  type        = list(string)
  default     = ["default"]
}

variable "slo_objectives" {
  description = "SLO objectives (fraction of good events over 28 days); reasons in docs/slo.md."
  type = object({
    dag_freshness      = optional(number, 0.995)
    dag_publish        = optional(number, 0.95)
    task_start         = optional(number, 0.95)
    worker_scale_up    = optional(number, 0.95)
    scheduler_liveness = optional(number, 0.995)
    api_availability   = optional(number, 0.995)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.slo_objectives) : v > 0 && v < 1])
    error_message = "slo_objectives: every objective must be between 0 and 1 (exclusive), e.g. 0.995."
  }
}

variable "runbook_url_base" {
  description = "Prefix for the runbook paths in alarm descriptions, e.g. \"https://github.com/<owner>/<repo>/blob/main/\" (empty: repository paths)."
  type        = string
  default     = ""
}

variable "sync_stale_minutes" {
  description = "Alarm when the env's oldest live sidecar last synced longer ago than this (or, without the health aggregator, no cycle succeeded for this long)."
  type        = number
  default     = 15
}

variable "backlog_threshold" {
  description = "Alarm when queued task instances stay above this for 15 minutes."
  type        = number
  default     = 100
}

variable "db_instance_identifier" {
  description = "RDS instance identifier."
  type        = string
}

variable "redis_replication_group_id" {
  description = "ElastiCache replication group ID."
  type        = string
}

variable "redis_num_cache_clusters" {
  description = "Nodes in the replication group (member IDs are <group>-001, -002, ...)."
  type        = number
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the internal ALB."
  type        = string
}

variable "api_target_group_arn_suffix" {
  description = "ARN suffix of the api-server target group."
  type        = string
}

variable "vpc_id" {
  description = "VPC ID (endpoint metric dimension)."
  type        = string
}

variable "interface_endpoint_ids" {
  description = "Interface endpoint IDs by short service name."
  type        = map(string)
}

variable "endpoint_bytes_threshold" {
  description = "Alarm when one interface endpoint processes more bytes than this per hour (cost guard)."
  type        = number
  default     = 5368709120
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget in USD for resources tagged with this stack's Project/Env."
  type        = number
  default     = 500
}

variable "budget_cost_filter_tag" {
  description = "Cost allocation tag filter of the budget, \"key$value\" (e.g. \"Env$dev\")."
  type        = string
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
