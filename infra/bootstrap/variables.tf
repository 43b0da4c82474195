variable "org" {
  description = "Organisation prefix used in every name (`<org>-airflow-...`), lower case."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}[a-z0-9]$", var.org))
    error_message = "org must be 3-22 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the state bucket (use the platform's region)."
  type        = string
  default     = "us-east-1"
}

variable "envs" {
  description = "Environments that get a state key and a backend config (`envs/<env>/terraform.tfstate`)."
  type        = list(string)
  default     = ["dev", "prod"]
}

variable "noncurrent_version_days" {
  description = "Days to keep old state versions (for recovery) before they expire."
  type        = number
  default     = 90
}

variable "create_dynamodb_lock_table" {
  description = "Also create a DynamoDB lock table, for Terraform/OpenTofu older than 1.10 (newer ones lock natively in S3 with use_lockfile)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
