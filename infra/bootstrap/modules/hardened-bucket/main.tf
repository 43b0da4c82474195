# One private, versioned, SSE-KMS (own rotating CMK + alias), TLS-only bucket whose old versions expire: the state
# bucket, the org-wide DAG bucket and the CloudTrail bucket of infra/bootstrap share it. A caller adds statements
# (a service that writes to it) by policy documents; ours win a Sid clash. Destroying it is refused (prevent_destroy).
resource "aws_kms_key" "this" {
  description             = var.key_description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  source_policy_documents = var.key_policy_documents

  #checkov:skip=CKV_AWS_356: key policy: Resource "*" in a key policy means this key, not every resource
  #checkov:skip=CKV_AWS_111: key policy: "*" is this key only, and only the account root is a principal
  #checkov:skip=CKV_AWS_109: key policy: "*" is this key only, and kms:* for the account root is AWS's default that lets IAM policies grant use
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [var.key_admin_arn]
    }
  }
}

resource "aws_kms_alias" "this" {
  name          = var.key_alias
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18: server access logs cannot be delivered to an SSE-KMS bucket; CloudTrail records access to it
  #checkov:skip=CKV_AWS_144: replication is a DR choice per organisation; versioning and expiring old versions cover recovery here
  #checkov:skip=CKV2_AWS_62: nothing consumes S3 event notifications (state and trail logs have no consumer, dagsync polls: docs/adr/0001-dag-sync.md)
  bucket = var.bucket

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = var.lifecycle_rule_id
    status = "Enabled"
    filter {}
    dynamic "expiration" {
      for_each = var.expire_current_after_days == null ? [] : [var.expire_current_after_days]
      content {
        days = expiration.value
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_partition" "current" {}

locals {
  # built from the name, not aws_s3_bucket.this.arn: the policy is then known at plan time, for review and policy checks
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket}"
}

data "aws_iam_policy_document" "bucket" {
  source_policy_documents = var.bucket_policy_documents

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = var.deny_other_encryption ? [1] : []
    content {
      sid       = "DenyOtherEncryption"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${local.bucket_arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "StringNotEqualsIfExists"
        variable = "s3:x-amz-server-side-encryption"
        values   = ["aws:kms"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
