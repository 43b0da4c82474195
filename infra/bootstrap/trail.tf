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

# The trail's bucket and CMK: the hardened bucket of the state and DAG buckets, plus what CloudTrail needs.
data "aws_iam_policy_document" "trail_key" {
  count = local.create_trail ? 1 : 0

  statement {
    sid       = "CloudTrailEncryptsLogs"
    actions   = ["kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
  }
  statement {
    sid       = "CloudTrailDescribesKey"
    actions   = ["kms:DescribeKey"]
    resources = ["*"]
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
}

data "aws_iam_policy_document" "trail_bucket" {
  count = local.create_trail ? 1 : 0

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

module "trail_bucket" {
  source = "./modules/hardened-bucket"
  count  = local.create_trail ? 1 : 0

  bucket                    = local.trail_bucket
  key_description           = "${var.org}-airflow: CloudTrail logs"
  key_alias                 = "alias/${var.org}-airflow-cloudtrail"
  key_admin_arn             = "arn:${local.partition}:iam::${local.account_id}:root"
  key_policy_documents      = [data.aws_iam_policy_document.trail_key[0].json]
  bucket_policy_documents   = [data.aws_iam_policy_document.trail_bucket[0].json]
  expire_current_after_days = var.cloudtrail_retention_days
  noncurrent_version_days   = 30
  lifecycle_rule_id         = "expire-old-trail-logs"
}

resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252: no SNS per log file; the NAT/IGW tripwire reads CloudTrail events from EventBridge (infra/modules/observability)
  #checkov:skip=CKV2_AWS_10: CloudWatch Logs delivery is not needed for EventBridge rules; logs stay in the KMS-encrypted bucket
  count = local.create_trail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = local.trail_bucket # known at plan time; depends_on orders it after the bucket policy
  kms_key_id                    = module.trail_bucket[0].kms_key_arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true

  event_selector {
    read_write_type           = "All"
    include_management_events = true
  }

  depends_on = [module.trail_bucket] # its bucket policy lets CloudTrail write
}

# --- IAM Access Analyzer: one account analyzer per account and region ------------------------------------------
resource "aws_accessanalyzer_analyzer" "account" {
  count = var.create_access_analyzer ? 1 : 0

  analyzer_name = "${var.org}-airflow-account"
  type          = "ACCOUNT"
}

# Addresses before the module (an existing bootstrap's state moves; nothing is replaced).
moved {
  from = aws_kms_key.trail[0]
  to   = module.trail_bucket[0].aws_kms_key.this
}

moved {
  from = aws_kms_alias.trail[0]
  to   = module.trail_bucket[0].aws_kms_alias.this
}

moved {
  from = aws_s3_bucket.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_policy.this
}
