# --- Account-level audit and analysis: a multi-region CloudTrail trail and the IAM Access Analyzer -----------------
# The envs' NAT/IGW tripwire (infra/modules/observability, rule nat_igw) matches "AWS API Call via CloudTrail"
# events: EventBridge gets them only while a trail logs management events, so bootstrap creates one, or takes the
# organization's trail by variable (organization_trail_arn). Access Analyzer allows one account analyzer per
# account and region: it lives here, not in the env stacks. See docs/runbooks/nat-alarm.md.
locals {
  create_trail = var.organization_trail_arn == ""
  trail_name   = "${var.org}-airflow-trail"
  trail_bucket = "${var.org}-airflow-cloudtrail-${local.account_id}"
  trail_arn    = "arn:${local.partition}:cloudtrail:${var.region}:${local.account_id}:trail/${local.trail_name}"
}

resource "aws_kms_key" "trail" {
  count = local.create_trail ? 1 : 0

  description             = "${var.org}-airflow: CloudTrail logs"
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
      {
        Sid       = "CloudTrailEncryptsLogs"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "kms:GenerateDataKey*"
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = local.trail_arn }
          StringLike   = { "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*" }
        }
      },
      {
        Sid       = "CloudTrailDescribesKey"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "kms:DescribeKey"
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
      },
    ]
  })
}

resource "aws_kms_alias" "trail" {
  count = local.create_trail ? 1 : 0

  name          = "alias/${var.org}-airflow-cloudtrail"
  target_key_id = aws_kms_key.trail[0].key_id
}

resource "aws_s3_bucket" "trail" {
  #checkov:skip=CKV_AWS_18: access logs of the audit-log bucket would need another bucket; the trail itself records API access to it
  #checkov:skip=CKV_AWS_144: cross-region replication is a DR choice per organisation; versioning and retention cover this account
  #checkov:skip=CKV2_AWS_62: nothing consumes S3 event notifications of the log bucket
  count = local.create_trail ? 1 : 0

  bucket = local.trail_bucket

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count = local.create_trail ? 1 : 0

  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.trail[0].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    id     = "expire-old-trail-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.cloudtrail_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.trail]
}

data "aws_iam_policy_document" "trail_bucket" {
  count = local.create_trail ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["arn:${local.partition}:s3:::${local.trail_bucket}", "arn:${local.partition}:s3:::${local.trail_bucket}/*"]
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
  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = ["arn:${local.partition}:s3:::${local.trail_bucket}"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${local.trail_bucket}/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "trail" {
  count = local.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.trail]
}

resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252: no SNS per log file; the NAT/IGW tripwire reads CloudTrail events from EventBridge (infra/modules/observability)
  #checkov:skip=CKV2_AWS_10: CloudWatch Logs delivery is not needed for EventBridge rules; logs stay in the KMS-encrypted bucket
  count = local.create_trail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = local.trail_bucket # known at plan time; depends_on orders it after the bucket policy
  kms_key_id                    = aws_kms_key.trail[0].arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true

  event_selector {
    read_write_type           = "All"
    include_management_events = true
  }

  depends_on = [aws_s3_bucket_policy.trail]
}

# --- IAM Access Analyzer: one account analyzer per account and region ------------------------------------------
resource "aws_accessanalyzer_analyzer" "account" {
  count = var.create_access_analyzer ? 1 : 0

  analyzer_name = "${var.org}-airflow-account"
  type          = "ACCOUNT"
}
