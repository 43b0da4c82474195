# --- The org-wide DAG bucket s3://<org>-airflow-dags (docs/adr/0009-dags-storage-efs-vs-ephemeral.md) ---------------
# One bucket for every env, like the ECR repositories: the dag-sync workflow publishes to <env>/ and each env's
# sidecars read only <env>/ (their IAM and the VPC's S3 endpoint policy are scoped to it). Plugins live under
# plugins/<env>/, outside <env>/, so a DAG sync never picks them up. Its own CMK, so the env stacks (and their
# own keys) can come and go without touching the DAGs.
locals {
  dags_bucket = var.dags_bucket_name != "" ? var.dags_bucket_name : "${var.org}-airflow-dags"
}

module "dags_bucket" {
  source = "./modules/hardened-bucket"

  bucket                  = local.dags_bucket
  key_description         = "${var.org}-airflow: the org-wide DAG bucket"
  key_alias               = "alias/${var.org}-airflow-dags"
  key_admin_arn           = "arn:${local.partition}:iam::${local.account_id}:root"
  noncurrent_version_days = var.dags_noncurrent_version_days
  lifecycle_rule_id       = "expire-old-dag-versions"
}

# Addresses before the module (an existing bootstrap's state moves; nothing is replaced).
moved {
  from = aws_kms_key.state
  to   = module.state_bucket.aws_kms_key.this
}

moved {
  from = aws_kms_key.dags
  to   = module.dags_bucket.aws_kms_key.this
}

moved {
  from = aws_kms_alias.state
  to   = module.state_bucket.aws_kms_alias.this
}

moved {
  from = aws_kms_alias.dags
  to   = module.dags_bucket.aws_kms_alias.this
}

moved {
  from = aws_s3_bucket.state
  to   = module.state_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket.dags
  to   = module.dags_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.state
  to   = module.state_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_ownership_controls.dags
  to   = module.dags_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.state
  to   = module.state_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_public_access_block.dags
  to   = module.dags_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.state
  to   = module.state_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_versioning.dags
  to   = module.dags_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.state
  to   = module.state_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.dags
  to   = module.dags_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.state
  to   = module.state_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.dags
  to   = module.dags_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.state
  to   = module.state_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_policy.dags
  to   = module.dags_bucket.aws_s3_bucket_policy.this
}
