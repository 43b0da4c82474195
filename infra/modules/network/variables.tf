variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones (one private subnet each). At least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2
    error_message = "az_count must be at least 2: the data stores and services span two AZs."
  }
}

variable "public_demo" {
  description = "Demo only: add public subnets, an internet gateway and one NAT gateway. The only way to get either."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (short names, e.g. \"ecr.api\"). S3 always gets a gateway endpoint."
  type        = list(string)
  default = [
    "ecr.api", "ecr.dkr", "logs", "events", "sts", "secretsmanager", "ssm", "elasticfilesystem", "kms",
    "monitoring", "ecs",
  ]
}

variable "s3_bucket_names" {
  description = "Buckets the workloads may read and write through the S3 gateway endpoint (the endpoint policy allows only these, the read-only s3_read_prefixes and the ECR layer bucket)."
  type        = list(string)
}

variable "s3_read_prefixes" {
  description = "Read-only bucket prefixes reachable through the S3 gateway endpoint (bucket => key prefix), e.g. the org-wide DAG bucket's <env>/."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the flow-log log group."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow-log log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource (the provider's default_tags carry the common ones)."
  type        = map(string)
  default     = {}
}
