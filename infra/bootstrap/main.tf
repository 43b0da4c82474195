# Account bootstrap for infra/envs/*: the state bucket (versioned, SSE-KMS with its own CMK, private, TLS-only) with
# S3-native locking (optional DynamoDB table for older CLIs), the ECR repositories (ecr.tf), the CloudTrail trail and the
# account Access Analyzer (trail.tf) and, optionally, the GitHub
# OIDC roles of the workflows (github.tf). Applied once per account
# with local state; see README.md here and docs/adr/0010-ci-cd.md.
provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "${var.org}-airflow", Component = "tfstate", ManagedBy = "opentofu" }, var.tags)
  }
}

data "aws_caller_identity" "current" {
  # The envs build <org>-airflow-<env>-<component>; AWS limits some of them (infra/modules/edge, data, compute).
  lifecycle {
    precondition {
      condition     = length(local.too_long) == 0
      error_message = "org and envs make names longer than AWS allows: ${join(", ", local.too_long)}. Use a shorter org (or env name)."
    }
  }
}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # Bucket names are global: the account id keeps ours unique.
  bucket_name = "${var.org}-airflow-tfstate-${local.account_id}"
  lock_table  = "${var.org}-airflow-tfstate-lock"

  # name => AWS limit, for every name the env stacks and the CI roles build from org and env
  built_names = merge([for env in var.envs : {
    "${var.org}-airflow-${env}-alb"                = 32 # aws_lb (modules/edge)
    "${var.org}-airflow-${env}-api"                = 32 # aws_lb_target_group
    "${var.org}-airflow-${env}-hc"                 = 32 # aws_lb_target_group
    "${var.org}-airflow-${env}-redis"              = 40 # aws_elasticache_replication_group (modules/data)
    "${var.org}-airflow-${env}-dag-processor-exec" = 64 # aws_iam_role (modules/compute)
    "${var.org}-airflow-gha-${env}-dag-publish"    = 64 # aws_iam_role (github.tf)
  }]...)
  too_long = [for n, limit in local.built_names : "${n} (${length(n)} > ${limit})" if length(n) > limit]
}

# --- the state bucket (state holds secrets in clear text: its own CMK, a key we control) -----------------------------
module "state_bucket" {
  source = "./modules/hardened-bucket"

  bucket                  = local.bucket_name
  key_description         = "${var.org}-airflow bootstrap: Terraform/OpenTofu state and ECR images"
  key_alias               = "alias/${var.org}-airflow-tfstate"
  key_admin_arn           = "arn:${local.partition}:iam::${local.account_id}:root"
  noncurrent_version_days = var.noncurrent_version_days
  lifecycle_rule_id       = "expire-old-state-versions"
  deny_other_encryption   = true
}

# --- optional DynamoDB lock table (CLIs older than 1.10) ---------------------------------------------------------
resource "aws_dynamodb_table" "lock" {
  count = var.create_dynamodb_lock_table ? 1 : 0

  name                        = local.lock_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.state_bucket.kms_key_arn
  }
}
