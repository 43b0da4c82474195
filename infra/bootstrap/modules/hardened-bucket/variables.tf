variable "bucket" {
  description = "Bucket name (global)."
  type        = string
}

variable "key_description" {
  description = "Description of the bucket's CMK."
  type        = string
}

variable "key_alias" {
  description = "Alias of the bucket's CMK, `alias/...`."
  type        = string
}

variable "key_admin_arn" {
  description = "Principal that administers the CMK (the account root: IAM policies then grant use)."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days old object versions are kept before they expire."
  type        = number
}

variable "lifecycle_rule_id" {
  description = "Id of the lifecycle rule that expires old versions."
  type        = string
}

variable "deny_other_encryption" {
  description = "Also deny PutObject that asks for other than SSE-KMS (the state bucket)."
  type        = bool
  default     = false
}
