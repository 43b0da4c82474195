output "mode" {
  description = "Who owns the workers' desired count: scaler or aas."
  value       = var.mode
}

output "scalable_target_resource_id" {
  description = "Application Auto Scaling resource ID (null in scaler mode)."
  value       = try(aws_appautoscaling_target.worker[0].resource_id, null)
}

output "scheduled_action_names" {
  description = "Names of the scheduled off-hours actions (empty in scaler mode, where the scaler's SCALER_SCHEDULE does it)."
  value       = [for a in aws_appautoscaling_scheduled_action.this : a.name]
}

output "scaler_apply_mode" {
  description = "SCALER_APPLY value that matches this wiring."
  value       = var.mode == "scaler" ? "ecs" : "none"
}
