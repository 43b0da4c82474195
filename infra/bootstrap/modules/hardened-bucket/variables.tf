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

variable "expire_current_after_days" {
  description = "Days after which current objects expire too (the trail's log retention); null keeps them."
  type        = number
  default     = null
}

variable "key_policy_documents" {
  description = "Further key policy documents (JSON) merged into the CMK's policy, e.g. CloudTrail encrypting with it."
  type        = list(string)
  default     = []
}

variable "bucket_policy_documents" {
  description = "Further bucket policy documents (JSON) merged into the TLS-only policy, e.g. CloudTrail writing logs."
  type        = list(string)
  default     = []
}
