variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the data stores."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ) for RDS, ElastiCache and the EFS mount targets."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the data stores (the ECS tasks), by a static name."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for every store."
  type        = string
}

# --- RDS ---
variable "db_engine_version" {
  description = "PostgreSQL engine version."
  type        = string
  default     = "16.4"
}

variable "db_parameter_group_family" {
  description = "Parameter group family matching db_engine_version."
  type        = string
  default     = "postgres16"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_name" {
  description = "Name of the Airflow metadata database."
  type        = string
  default     = "airflow"
}

variable "db_username" {
  description = "Master user name (its password is managed by RDS in Secrets Manager)."
  type        = string
  default     = "airflow"
}

variable "db_multi_az" {
  description = "Multi-AZ standby (prod)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Automated backup retention (enables point-in-time recovery). At least 7."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 7
    error_message = "db_backup_retention_days must be at least 7."
  }
}

variable "db_deletion_protection" {
  description = "Deletion protection (prod)."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot on destroy (dev only)."
  type        = bool
  default     = false
}

variable "db_performance_insights_retention_days" {
  description = "Performance Insights retention (7 is the free tier)."
  type        = number
  default     = 7
}

# --- Redis ---
variable "redis_engine_version" {
  description = "ElastiCache Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Nodes in the replication group (>= 2 for automatic failover)."
  type        = number
  default     = 1
}

variable "redis_automatic_failover" {
  description = "Automatic failover and Multi-AZ (prod; needs redis_num_cache_clusters >= 2)."
  type        = bool
  default     = false
}

variable "redis_auth_token" {
  description = "AUTH token, read from its Secrets Manager secret by the caller."
  type        = string
  sensitive   = true
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the broker URL secret (0 = delete at once; dev only)."
  type        = number
  default     = 30
}

variable "redis_snapshot_retention_days" {
  description = "Daily snapshot retention of the replication group."
  type        = number
  default     = 1
}

# --- S3 ---
variable "bucket_suffix" {
  description = "Optional suffix for globally unique bucket names (e.g. the account ID)."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Days before task logs in S3 expire."
  type        = number
  default     = 90
}

variable "noncurrent_version_days" {
  description = "Days before noncurrent object versions expire."
  type        = number
  default     = 30
}

variable "force_destroy_buckets" {
  description = "Allow destroying non-empty buckets (dev only)."
  type        = bool
  default     = false
}

# --- EFS ---
variable "create_efs" {
  description = "Create the EFS file system for DAGs and plugins (dags_storage = \"efs\")."
  type        = bool
  default     = true
}

variable "efs_one_zone" {
  description = "EFS One Zone storage in the AZ of subnet_ids[0] (about half the price, one mount target; tasks that mount it must run in efs_subnet_ids). For dev; prod keeps the regional (multi-AZ) file system."
  type        = bool
  default     = false
}

variable "efs_transition_to_ia" {
  description = "EFS lifecycle: when files move to Infrequent Access."
  type        = string
  default     = "AFTER_30_DAYS"
}

variable "airflow_uid" {
  description = "POSIX uid of the Airflow containers (owner of the EFS access point roots)."
  type        = number
  default     = 50000
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
