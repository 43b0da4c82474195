output "kms_key_arn" {
  description = "ARN of the customer-managed key."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the customer-managed key."
  value       = aws_kms_key.this.key_id
}

output "kms_alias_name" {
  description = "Alias of the customer-managed key (IAM policies scope kms:* actions by it)."
  value       = aws_kms_alias.this.name
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager ARN of the ElastiCache AUTH token."
  value       = aws_secretsmanager_secret.redis_auth.arn
}

output "redis_auth_secret_name" {
  description = "Name of the ElastiCache AUTH token secret."
  value       = aws_secretsmanager_secret.redis_auth.name
}

output "redis_auth_token" {
  description = "The AUTH token (for the replication group)."
  value       = aws_secretsmanager_secret_version.redis_auth.secret_string
  sensitive   = true
}

output "app_secret_arn" {
  description = "Secrets Manager ARN of the Airflow keys (JSON: jwt_secret, api_secret_key, fernet_key)."
  value       = aws_secretsmanager_secret.app.arn
}

output "app_secret_name" {
  description = "Name of the Airflow keys secret."
  value       = aws_secretsmanager_secret.app.name
}
