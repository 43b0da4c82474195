# Per env: infra/envs/<env>/settings.tfvars sets `env` and `settings` (every attribute required, so a misspelt name
# fails the plan with "attribute ... is required"); the rest have defaults or come from the user's terraform.tfvars
# next to it (`infra` passes both files).
variable "env" {
  description = "Environment name: the directory under infra/envs and the <env> of every name, <org>-airflow-<env>-<component>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.env)) && var.env != "plugins"
    error_message = "env must be lowercase letters, digits or dashes, starting with a letter (the rule of infra/bootstrap var.envs), and not \"plugins\"."
  }
}

variable "settings" {
  description = "What differs between envs: network, data-store sizes and protection, retention, service sizes, scaler bounds."
  type = object({
    vpc_cidr                    = string
    az_count                    = number
    kms_deletion_window_days    = number
    secret_recovery_window_days = number
    log_retention_days          = number

    db_instance_class        = string
    db_multi_az              = bool
    db_backup_retention_days = number
    db_deletion_protection   = bool
    db_skip_final_snapshot   = bool

    redis_node_type          = string
    redis_num_cache_clusters = number
    redis_automatic_failover = bool

    force_destroy_buckets   = bool
    alb_deletion_protection = bool
    monthly_budget_usd      = number

    worker_fargate_spot_weight = number
    dagsync_max_age            = number
    efs_one_zone               = bool
    require_alarm_subscriber   = bool
    worker_concurrency         = number
    sizes                      = map(object({ cpu = number, memory = number, desired_count = number }))
    scaler = object({
      min_workers = number
      max_workers = number
      schedule    = string
      timezone    = string
      queues      = string
    })
  })

  validation {
    condition     = can(cidrnetmask(var.settings.vpc_cidr)) && var.settings.az_count >= 2 && var.settings.az_count <= 3
    error_message = "settings.vpc_cidr must be a CIDR block and settings.az_count 2 or 3."
  }
  validation {
    condition     = sort(keys(var.settings.sizes)) == sort(["api-server", "dag-processor", "healthcheck", "scaler", "scheduler", "triggerer", "worker"])
    error_message = "settings.sizes must name exactly api-server, scheduler, dag-processor, triggerer, worker, scaler and healthcheck."
  }
  validation {
    condition     = var.settings.scaler.min_workers >= 0 && var.settings.scaler.min_workers <= var.settings.scaler.max_workers
    error_message = "settings.scaler needs 0 <= min_workers <= max_workers."
  }
  validation {
    condition     = var.settings.redis_automatic_failover == false || var.settings.redis_num_cache_clusters >= 2
    error_message = "settings.redis_automatic_failover needs redis_num_cache_clusters >= 2."
  }
}

variable "org" {
  description = "Organisation short name: the first part of every name, <org>-airflow-<env>-<component>."
  type        = string
  default     = "acme"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.org))
    error_message = "org must be 2-16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "certificate_arn" {
  description = "ACM certificate of the internal ALB's HTTPS listener."
  type        = string
}

variable "public_demo" {
  description = "Demo only: add an internet gateway, public subnets and one NAT gateway. Off by default; the policy gate denies them otherwise."
  type        = bool
  default     = false
}

variable "dags_storage" {
  description = "Where dagsync publishes DAGs: \"efs\" (default) or \"ephemeral\" (task-local volume)."
  type        = string
  default     = "efs"
}

variable "dags_bucket_name" {
  description = "The org-wide DAG bucket from infra/bootstrap (null = \"<org>-airflow-dags\"); the sidecars read s3://<bucket>/<env>/."
  type        = string
  default     = null
}

variable "dags_kms_key_arn" {
  description = "CMK of the DAG bucket (bootstrap output dags_kms_key_arn); null = any key aliased alias/<org>-airflow-dags."
  type        = string
  default     = null
}

variable "scaling_mode" {
  description = "Who owns the workers' desired count: \"scaler\" (docs/adr/0002-scaling.md) or \"aas\"."
  type        = string
  default     = "scaler"
}

variable "image_tag" {
  description = "Tag of the three images in ECR (<org>-airflow-{airflow,dagsync,services})."
  type        = string
  default     = "latest"
}

variable "images" {
  description = "Full image URIs, overriding the ECR defaults built from org, account, region and image_tag."
  type = object({
    airflow  = optional(string)
    dagsync  = optional(string)
    services = optional(string)
  })
  default = {}
}

variable "api_base_url" {
  description = "Public URL of the UI (AIRFLOW__API__BASE_URL: links and redirects), e.g. https://airflow.dev.example.com (default: https://<ALB DNS name>). Tasks reach the API by its Cloud Map name, not by this (docs/adr/0011-how-tasks-reach-the-api.md)."
  type        = string
  default     = null
}

variable "allowed_cidrs" {
  description = "Extra client CIDRs allowed to reach the internal ALB besides the VPC (VPN, peered networks)."
  type        = list(string)
  default     = []
}

variable "oidc" {
  description = "OIDC/SSO in front of the UI (null = off); see modules/edge."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    client_secret_arn      = string
    scope                  = optional(string, "openid email profile")
    session_timeout        = optional(number, 43200)
    # The internal ALB calls the IdP's token and user-info endpoints itself: with no NAT, only over private routing
    # (transit gateway, VPN) to these CIDRs / prefix lists; the ALB may reach exactly those on 443 (docs/adr/0006).
    idp_egress_cidrs           = optional(list(string), [])
    idp_egress_prefix_list_ids = optional(list(string), [])
  })
  default = null
}

variable "alarm_emails" {
  description = "E-mail addresses for the alarm topic."
  type        = list(string)
  default     = []
}

variable "alarm_endpoints" {
  description = "More subscribers of the alarm topic besides alarm_emails, e.g. [{ protocol = \"https\", endpoint = \"https://events.pagerduty.com/...\" }]. prod refuses to plan without any subscriber."
  type        = list(object({ protocol = string, endpoint = string }))
  default     = []
}

variable "bucket_suffix" {
  description = "Optional suffix for globally unique bucket names."
  type        = string
  default     = ""
}

variable "extra_tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "extra_environment" {
  description = "Extra plain (non-secret) environment per container (api-server, scheduler, dag-processor, triggerer, worker, scaler, healthcheck, migrate, dagsync = every sidecar), merged over the defaults: tuning without a module change."
  type        = map(map(string))
  default     = {}
}

variable "worker_stop_timeout" {
  description = "Seconds a worker gets between SIGTERM (Celery warm shutdown) and SIGKILL; Fargate allows 2..120. Longer tasks rely on the scaler's task scale-in protection (docs/adr/0002-scaling.md)."
  type        = number
  default     = 120
}
