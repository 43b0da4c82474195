output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service names by component."
  value       = merge({ for k, s in aws_ecs_service.this : k => s.name }, { worker = aws_ecs_service.worker.name })
}

output "worker_service_name" {
  description = "Name of the Celery worker service (the scaler's target)."
  value       = aws_ecs_service.worker.name
}

output "log_group_names" {
  description = "CloudWatch log group per service."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "airflow_log_group_names" {
  description = "Log groups of the Airflow services (each also carries its dagsync sidecar's stream)."
  value       = [for s in local.airflow_components : aws_cloudwatch_log_group.this[s].name]
}

output "task_definition_arns" {
  description = "Task definition ARNs by service."
  value       = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "task_role_arns" {
  description = "Task role ARNs by service."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "execution_role_arns" {
  description = "Execution role ARNs by service."
  value       = { for k, r in aws_iam_role.execution : k => r.arn }
}

output "scaler_namespace" {
  description = "CloudWatch namespace of the scaler's metrics."
  value       = local.scaler_namespace
}

output "api_internal_url" {
  description = "The API as tasks reach it inside the VPC (Cloud Map name, plain HTTP on the task port)."
  value       = local.api_internal_url
}

output "migrate_task" {
  description = "The one-off migration task: what `infra apply` and the deploy workflow pass to RunTask, and where its log goes."
  value = {
    cluster         = aws_ecs_cluster.this.name
    task_definition = aws_ecs_task_definition.this["migrate"].arn
    container       = "migrate"
    subnets         = var.subnet_ids
    security_groups = [var.tasks_security_group_id]
    log_group       = aws_cloudwatch_log_group.this["migrate"].name
    log_stream      = "migrate/migrate" # + "/<task id>" (awslogs-stream-prefix/container/task)
  }
}

output "auth_secret_arns" {
  description = "Secrets of the FAB users by kind: admin (the first admin) and ci (the dag-sync workflow's account); JSON username/password."
  value       = { for k, s in aws_secretsmanager_secret.auth : k => s.arn }
}
