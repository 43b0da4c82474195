# --- The org-wide DAG bucket s3://<org>-airflow-dags (docs/adr/0009-dags-storage-efs-vs-ephemeral.md) ---------------
# One bucket for every env, like the ECR repositories: the dag-sync workflow publishes to <env>/ and each env's
# sidecars read only <env>/ (their IAM and the VPC's S3 endpoint policy are scoped to it). Plugins live under
# plugins/<env>/, outside <env>/, so a DAG sync never picks them up. Its own CMK, so the env stacks (and their
# own keys) can come and go without touching the DAGs.
locals {
  dags_bucket = var.dags_bucket_name != "" ? var.dags_bucket_name : "${var.org}-airflow-dags"
}

resource "aws_kms_key" "dags" {
  description             = "${var.org}-airflow: the org-wide DAG bucket"
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

resource "aws_kms_alias" "dags" {
  name          = "alias/${var.org}-airflow-dags"
  target_key_id = aws_kms_key.dags.key_id
}

resource "aws_s3_bucket" "dags" {
  #checkov:skip=CKV_AWS_18: server access logs cannot be delivered to an SSE-KMS bucket; CloudTrail data events audit object access
  #checkov:skip=CKV_AWS_144: git is the source of truth for DAGs (every publish is a commit); versioning covers rollback, replication is a DR choice per organisation
  #checkov:skip=CKV2_AWS_62: nothing consumes S3 event notifications: dagsync polls with an ETag short-circuit (docs/adr/0001-dag-sync.md)
  bucket = local.dags_bucket

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "dags" {
  bucket = aws_s3_bucket.dags.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "dags" {
  bucket                  = aws_s3_bucket.dags.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "dags" {
  bucket = aws_s3_bucket.dags.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.dags.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dags" {
  bucket = aws_s3_bucket.dags.id

  rule {
    id     = "expire-old-dag-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.dags_noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.dags]
}

resource "aws_s3_bucket_policy" "dags" {
  bucket = aws_s3_bucket.dags.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.dags.arn, "${aws_s3_bucket.dags.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.dags]
}
