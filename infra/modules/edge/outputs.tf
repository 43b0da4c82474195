output "alb_arn" {
  description = "ARN of the internal ALB."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the ALB (CloudWatch dimension)."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB."
  value       = aws_lb.this.dns_name
}

output "alb_security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "api_target_group_arn" {
  description = "Target group of the Airflow api-server."
  value       = aws_lb_target_group.api.arn
}

output "api_target_group_arn_suffix" {
  description = "ARN suffix of the api-server target group (CloudWatch dimension)."
  value       = aws_lb_target_group.api.arn_suffix
}

output "healthcheck_target_group_arn" {
  description = "Target group of the healthcheck service."
  value       = aws_lb_target_group.healthcheck.arn
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "oidc_enabled" {
  description = "Whether OIDC/SSO authentication is in front of the UI."
  value       = local.oidc_on
}

output "healthcheck_root_path" {
  description = "URL prefix of the health aggregator's page and API behind the ALB (its HEALTHCHECK_ROOT_PATH)."
  value       = var.healthcheck_root_path
}
