variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "mode" {
  description = "\"scaler\": the scaler applies desiredCount itself (ADR 0002 default; this module creates nothing). \"aas\": Application Auto Scaling owns the worker service (step scaling on the scaler's WorkerShortfall, scheduled off-hours actions)."
  type        = string
  default     = "scaler"

  validation {
    condition     = contains(["scaler", "aas"], var.mode)
    error_message = "mode must be \"scaler\" or \"aas\"."
  }
}

variable "env" {
  description = "Environment name: the `env` dimension of the scaler's metrics."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster of the workers."
  type        = string
}

variable "service_name" {
  description = "ECS service of the Celery workers."
  type        = string
}

variable "scaler_namespace" {
  description = "CloudWatch namespace of the scaler's metrics."
  type        = string
  default     = "Airflow/Scaler"
}

variable "min_capacity" {
  description = "Minimum workers (0 = scale to zero)."
  type        = number
  default     = 0
}

variable "max_capacity" {
  description = "Maximum workers."
  type        = number
  default     = 10
}

variable "timezone" {
  description = "Time zone of the scheduled actions."
  type        = string
  default     = "UTC"
}

variable "schedules" {
  description = "Scheduled actions: name => cron expression and the capacity bounds from then on."
  type = map(object({
    schedule     = string
    min_capacity = number
    max_capacity = number
  }))
  default = {
    "off-hours" = { schedule = "cron(0 20 ? * MON-FRI *)", min_capacity = 0, max_capacity = 2 }
    "weekend"   = { schedule = "cron(0 0 ? * SAT *)", min_capacity = 0, max_capacity = 2 }
    "on-hours"  = { schedule = "cron(0 7 ? * MON-FRI *)", min_capacity = 0, max_capacity = 10 }
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
