variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the CMK is deleted."
  type        = number
  default     = 30
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the Secrets Manager secrets (0 = delete at once; dev only)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
