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

# --- KMS key for the state (state holds secrets in clear text: encrypt with a key we control) ----------------------
resource "aws_kms_key" "state" {
  description             = "${var.org}-airflow bootstrap: Terraform/OpenTofu state and ECR images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.org}-airflow-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

# --- the bucket --------------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18: Server access logs for the state bucket would need a second, unencrypted-by-KMS log bucket; CloudTrail records every state read/write via the deploy roles.
  #checkov:skip=CKV_AWS_144: Cross-region replication is a DR choice per organisation; versioning + 90 days of old versions cover state recovery here.
  #checkov:skip=CKV2_AWS_62: Nothing consumes state-change events; notifications would only add a dangling target.
  bucket = local.bucket_name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyOtherEncryption"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.state.arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.state]
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
    kms_key_arn = aws_kms_key.state.arn
  }
}
