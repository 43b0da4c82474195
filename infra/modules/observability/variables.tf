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

variable "sync_stale_minutes" {
  description = "Alarm when no DAG sync cycle succeeded for this long."
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

variable "enable_access_analyzer" {
  description = "Create the IAM Access Analyzer (off only for emulated runs: the emulator has no Access Analyzer API)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
