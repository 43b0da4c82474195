output "name_prefix" {
  description = "Prefix of every resource name."
  value       = local.name_prefix
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB (Airflow UI and API, /status)."
  value       = module.edge.alb_dns_name
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.compute.cluster_name
}

output "service_names" {
  description = "ECS services by component."
  value       = module.compute.service_names
}

output "bucket_names" {
  description = "S3 buckets of this env (logs)."
  value       = module.data.bucket_names
}

output "dags_source" {
  description = "Where this env's sidecars pull DAGs from (DAGSYNC_SOURCE) and the dag-sync workflow publishes to."
  value       = "s3://${local.dags_bucket_name}/${local.dags_prefix}"
}

output "db_master_secret_arn" {
  description = "RDS-managed master credentials in Secrets Manager."
  value       = module.data.db_master_secret_arn
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm."
  value       = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "interface_endpoints" {
  description = "Services reached through interface VPC endpoints."
  value       = module.network.interface_endpoint_services
}

output "api_internal_url" {
  description = "The API as tasks reach it inside the VPC (Cloud Map; docs/adr/0011-how-tasks-reach-the-api.md)."
  value       = module.compute.api_internal_url
}

output "migrate_task" {
  description = "The one-off migration task that `infra apply` runs after every apply (cluster, task definition, network, log)."
  value       = module.compute.migrate_task
}
