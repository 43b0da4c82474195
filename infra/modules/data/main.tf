# Data stores: RDS Postgres (metadata), ElastiCache Redis (Celery broker), S3 (task logs), EFS (shared DAGs).
# The DAG bucket is org-wide, s3://<org>-airflow-dags/<env>/ (infra/bootstrap/dags.tf, docs/adr/0009).
# Everything encrypted with the one CMK; every store backed up.
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  suffix    = var.bucket_suffix == "" ? "" : "-${var.bucket_suffix}"
  buckets = {
    logs = "${var.name_prefix}-logs${local.suffix}"
  }
}

# --- RDS PostgreSQL --------------------------------------------------------------------------------------------
resource "aws_security_group" "db" {
  name        = "${var.name_prefix}-db"
  description = "RDS PostgreSQL: 5432 from the platform tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each = var.client_security_group_ids

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from platform tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name_prefix}-db"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name_prefix}-pg"
  family      = var.db_parameter_group_family
  description = "Airflow metadata DB: SSL forced"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = var.tags
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293: deletion protection is a per-env variable (default true; prod true, dev false so dev can be torn down); the backups policy gate enforces it in prod
  #checkov:skip=CKV_AWS_157: Multi-AZ is a per-env variable: prod sets db_multi_az = true (infra/envs/prod/settings.tfvars), dev stays single-AZ
  #checkov:skip=CKV_AWS_118: Enhanced Monitoring needs the AWS-managed AmazonRDSEnhancedMonitoringRole; Performance Insights + CloudWatch metrics and alarms cover DB health here
  identifier     = "${var.name_prefix}-db"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = var.db_name
  username       = var.db_username
  port           = 5432

  manage_master_user_password   = true # password lives in Secrets Manager, rotated by RDS
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false

  backup_retention_period   = var.db_backup_retention_days # > 0 enables point-in-time recovery
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = var.db_skip_final_snapshot ? null : "${var.name_prefix}-db-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = var.db_performance_insights_retention_days

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  tags = merge(var.tags, { Name = "${var.name_prefix}-db" })

  lifecycle {
    # Attributes the provider never reads back: after an import (restore runbook, docs/runbooks/rds-restore.md)
    # they would show as changes, and the update would send ManageMasterUserPassword from the empty state (false:
    # RDS would drop the managed secret). The runbook sets both with the CLI before the import.
    ignore_changes = [manage_master_user_password, master_user_secret_kms_key_id]
  }
}

# --- ElastiCache Redis (Celery broker) ------------------------------------------------------------------------------
resource "aws_security_group" "redis" {
  name        = "${var.name_prefix}-redis"
  description = "ElastiCache Redis: 6379 from the platform tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-redis" })
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each = var.client_security_group_ids

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from platform tasks"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

resource "aws_elasticache_subnet_group" "this" {
  name        = "${var.name_prefix}-redis"
  description = "Private subnets of ${var.name_prefix}"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50: failover is a per-env variable: dev runs one node, prod sets redis_automatic_failover = true (infra/envs/prod/settings.tfvars)
  replication_group_id = "${var.name_prefix}-redis"
  description          = "Celery broker for ${var.name_prefix}"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  num_cache_clusters   = var.redis_num_cache_clusters
  port                 = 6379

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.redis.id]

  automatic_failover_enabled = var.redis_automatic_failover
  multi_az_enabled           = var.redis_automatic_failover

  transit_encryption_enabled = true
  auth_token                 = var.redis_auth_token
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn

  snapshot_retention_limit = var.redis_snapshot_retention_days
  snapshot_window          = "02:00-03:00"
  maintenance_window       = "sun:05:30-sun:06:30"
  apply_immediately        = true

  tags = merge(var.tags, { Name = "${var.name_prefix}-redis" })
}

# The full broker URL for clients that take one URL (scaler, healthcheck): ECS cannot compose env from secrets.
resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57: derived from the AUTH token; rotated together with it by runbook (docs/adr/0006-secrets-and-sso.md)
  name                    = "${var.name_prefix}-redis-url"
  description             = "rediss:// URL of the Celery broker, with the AUTH token"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "rediss://:${var.redis_auth_token}@${aws_elasticache_replication_group.this.primary_endpoint_address}:${aws_elasticache_replication_group.this.port}/0"
}

# --- S3: task logs (the DAG bucket is org-wide: infra/bootstrap/dags.tf) -----------------------------------------------------------------------------
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18: server access logs cannot be delivered to SSE-KMS buckets; object access is audited with CloudTrail data events
  #checkov:skip=CKV_AWS_144: single-region platform; versioning + lifecycle cover recovery, cross-region replication is a DR decision outside this stack
  #checkov:skip=CKV2_AWS_62: nothing consumes S3 event notifications: dagsync polls with ETag short-circuit (docs/adr/0001-dag-sync.md)
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy_buckets
  tags          = merge(var.tags, { Name = each.value, Purpose = each.key })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = each.key == "logs" ? [1] : []
    content {
      id     = "expire-task-logs"
      status = "Enabled"
      filter {}

      transition {
        days          = 30
        storage_class = "STANDARD_IA"
      }

      expiration {
        days = var.log_retention_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${each.value}",
      "arn:${local.partition}:s3:::${each.value}/*",
    ]
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
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# --- EFS: shared DAG folder (dags_storage = "efs"), see docs/adr/0009-dags-storage-efs-vs-ephemeral.md -------------------
resource "aws_security_group" "efs" {
  count = var.create_efs ? 1 : 0

  name        = "${var.name_prefix}-efs"
  description = "EFS mount targets: NFS from the platform tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-efs" })
}

resource "aws_vpc_security_group_ingress_rule" "efs" {
  for_each = var.create_efs ? var.client_security_group_ids : {}

  security_group_id            = aws_security_group.efs[0].id
  description                  = "NFS from platform tasks"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = each.value
}

# One Zone (efs_one_zone): one mount target, in the AZ of subnet_ids[0]; Fargate tasks can mount it only from a
# subnet in that AZ (output efs_subnet_ids), so it suits single-AZ dev, not prod (docs/adr/0009).
data "aws_subnet" "efs_zone" {
  count = var.create_efs && var.efs_one_zone ? 1 : 0
  id    = var.subnet_ids[0]
}

resource "aws_efs_file_system" "this" {
  count = var.create_efs ? 1 : 0

  creation_token         = "${var.name_prefix}-efs"
  availability_zone_name = var.efs_one_zone ? data.aws_subnet.efs_zone[0].availability_zone : null
  encrypted              = true
  kms_key_id             = var.kms_key_arn
  performance_mode       = "generalPurpose"
  throughput_mode        = "elastic"

  lifecycle_policy {
    transition_to_ia = var.efs_transition_to_ia
  }

  lifecycle_policy {
    transition_to_primary_storage_class = "AFTER_1_ACCESS"
  }

  tags = merge(var.tags, { Name = "${var.name_prefix}-efs" })
}

resource "aws_efs_backup_policy" "this" {
  count = var.create_efs ? 1 : 0

  file_system_id = aws_efs_file_system.this[0].id
  backup_policy {
    status = "ENABLED"
  }
}

# TLS only, and IAM authorization: with a policy present, NFS clients without IAM credentials are anonymous and
# get nothing; the account's principals get mount/write only through a mount target, and only as far as their own
# IAM policies allow (the task roles, infra/modules/compute). No ClientRootAccess: access points set the uid.
resource "aws_efs_file_system_policy" "this" {
  count = var.create_efs ? 1 : 0

  file_system_id = aws_efs_file_system.this[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyWithoutTls"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "*"
        Resource  = aws_efs_file_system.this[0].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "IamPrincipalsOfTheAccountThroughMountTargets"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        Resource  = aws_efs_file_system.this[0].arn
        Condition = { Bool = { "elasticfilesystem:AccessedViaMountTarget" = "true" } }
      },
    ]
  })
}

resource "aws_efs_mount_target" "this" {
  count = var.create_efs ? (var.efs_one_zone ? 1 : length(var.subnet_ids)) : 0

  file_system_id  = aws_efs_file_system.this[0].id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.efs[0].id]
}

resource "aws_efs_access_point" "this" {
  for_each = var.create_efs ? toset(["dags", "plugins"]) : toset([])

  file_system_id = aws_efs_file_system.this[0].id

  posix_user {
    uid = var.airflow_uid
    gid = 0
  }

  root_directory {
    path = "/${each.key}"
    creation_info {
      owner_uid   = var.airflow_uid
      owner_gid   = 0
      permissions = "0775"
    }
  }

  tags = merge(var.tags, { Name = "${var.name_prefix}-efs-${each.key}" })
}
