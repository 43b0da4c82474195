output "db_instance_identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "db_instance_arn" {
  description = "RDS instance ARN."
  value       = aws_db_instance.this.arn
}

output "db_address" {
  description = "RDS endpoint host name."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "RDS port."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Airflow metadata database name."
  value       = aws_db_instance.this.db_name
}

output "db_master_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master credentials (JSON: username, password)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group ID."
  value       = aws_elasticache_replication_group.this.replication_group_id
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the replication group."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}

output "redis_member_clusters" {
  description = "Cache cluster IDs of the replication group (CloudWatch dimensions)."
  value       = sort(tolist(aws_elasticache_replication_group.this.member_clusters))
}

output "bucket_names" {
  description = "Bucket names by purpose (logs; the DAG bucket is org-wide, infra/bootstrap)."
  value       = local.buckets
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose (logs)."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "efs_file_system_id" {
  description = "EFS file system ID (null without EFS)."
  value       = try(aws_efs_file_system.this[0].id, null)
}

output "efs_file_system_arn" {
  description = "EFS file system ARN (null without EFS)."
  value       = try(aws_efs_file_system.this[0].arn, null)
}

output "efs_access_point_ids" {
  description = "EFS access point IDs by name (dags, plugins)."
  value       = { for k, ap in aws_efs_access_point.this : k => ap.id }
}

output "efs_mount_target_ids" {
  description = "EFS mount target IDs (one per private subnet; one with efs_one_zone)."
  value       = aws_efs_mount_target.this[*].id
}

output "efs_subnet_ids" {
  description = "Subnets with an EFS mount target: the only subnets where tasks can mount it (all of subnet_ids; with efs_one_zone only subnet_ids[0]). Empty without EFS."
  value       = var.create_efs ? (var.efs_one_zone ? [var.subnet_ids[0]] : var.subnet_ids) : []
}

output "security_group_ids" {
  description = "Security groups of the data stores by store."
  value = {
    db    = aws_security_group.db.id
    redis = aws_security_group.redis.id
    efs   = try(aws_security_group.efs[0].id, null)
  }
}

output "redis_url_secret_arn" {
  description = "ARN of the secret holding the full rediss:// broker URL."
  value       = aws_secretsmanager_secret.redis_url.arn
}

output "redis_url_secret_name" {
  description = "Name of the broker URL secret."
  value       = aws_secretsmanager_secret.redis_url.name
}
