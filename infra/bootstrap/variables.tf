variable "org" {
  description = "Organisation prefix used in every name (`<org>-airflow-...`), lower case."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.org)) # the same rule as infra/platform/variables.tf
    error_message = "org must be 2-16 lowercase letters, digits or dashes, starting with a letter."
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

  validation {
    condition     = alltrue([for e in var.envs : can(regex("^[a-z][a-z0-9-]*$", e)) && e != "plugins"])
    error_message = "envs must be lower-case names and not \"plugins\" (the DAG bucket keeps plugins under plugins/<env>/)."
  }
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

variable "ecr_keep_images" {
  description = "Tagged images kept per ECR repository (older ones expire; every deploy's git-SHA tag stays pullable until then)."
  type        = number
  default     = 200
}

variable "github_repository" {
  description = "GitHub `owner/repo` allowed to assume the CI roles through OIDC; empty = no GitHub OIDC provider or CI roles."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/repo (or be empty)."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's token.actions.githubusercontent.com OIDC provider (false if the account already has one)."
  type        = bool
  default     = true
}

variable "dags_bucket_name" {
  description = "Name of the org-wide DAG bucket (empty = `<org>-airflow-dags`). DAGs under `<env>/`, plugins under `plugins/<env>/`."
  type        = string
  default     = ""
}

variable "dags_noncurrent_version_days" {
  description = "Days old DAG object versions are kept (rollback of a bad publish) before they expire."
  type        = number
  default     = 30
}

variable "organization_trail_arn" {
  description = "ARN of an existing organization (or account) CloudTrail trail that logs this account's management events in every region; empty = create the multi-region trail `<org>-airflow-trail` here. The envs' NAT/IGW tripwire needs one of them."
  type        = string
  default     = ""

  validation {
    condition     = var.organization_trail_arn == "" || can(regex("^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/[A-Za-z0-9._-]+$", var.organization_trail_arn))
    error_message = "organization_trail_arn must be a trail ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>) or empty to create a trail."
  }
}

variable "cloudtrail_retention_days" {
  description = "Days the created trail's log files are kept in its bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.cloudtrail_retention_days >= 90
    error_message = "cloudtrail_retention_days must be at least 90."
  }
}

variable "create_access_analyzer" {
  description = "Create the account's IAM Access Analyzer in `region` (AWS allows one account analyzer per account and region; false if the account already has one, e.g. from the organization)."
  type        = bool
  default     = true
}

variable "plan_secret_arns" {
  description = "Secrets Manager secret ARNs the env plans read, so the read-only plan role may read them: the OIDC client secret of each env that turns SSO on (`oidc.client_secret_arn`). Empty = none (plans of envs with OIDC then fail with AccessDenied)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.plan_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", a))])
    error_message = "plan_secret_arns must be Secrets Manager secret ARNs (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."
  }
}
