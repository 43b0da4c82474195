output "alarm_topic_arn" {
  description = "ARN of the CMK-encrypted SNS alarm topic."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm this module creates."
  value = concat(
    [aws_cloudwatch_metric_alarm.sync_stale.alarm_name, aws_cloudwatch_metric_alarm.scheduler_down.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.running_below_desired : a.alarm_name],
    [aws_cloudwatch_metric_alarm.backlog_high.alarm_name, aws_cloudwatch_metric_alarm.scaler_errors.alarm_name, aws_cloudwatch_metric_alarm.scaler_down.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.rds : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.redis : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.alb_5xx : a.alarm_name],
    [aws_cloudwatch_metric_alarm.api_unhealthy.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.endpoint_bytes : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.slo_window : a.alarm_name],
    [for a in aws_cloudwatch_composite_alarm.slo_burn : a.alarm_name],
  )
}

output "slo_alarm_names" {
  description = "The composite alarms that page on SLO burn, one per SLO and burn-rate pair."
  value       = [for a in aws_cloudwatch_composite_alarm.slo_burn : a.alarm_name]
}

output "slo_spec" {
  description = "The SLOs as JSON (metrics, windows, burn-rate factors) for the health aggregator's HEALTHCHECK_SLO_SPEC (docs/slo.md)."
  value       = jsonencode(local.slo_spec)
}

output "alarm_topic_warning" {
  description = "Non-empty when nobody receives the alarms (no alarm_emails, no alarm_endpoints): shown at every plan."
  value       = length(var.alarm_emails) + length(var.alarm_endpoints) == 0 ? "WARNING: the alarm topic ${aws_sns_topic.alarms.name} has no subscriber; alarms reach nobody. Set alarm_emails or alarm_endpoints." : ""
}

output "nat_igw_rule_name" {
  description = "EventBridge rule that fires on NAT/internet gateway creation."
  value       = aws_cloudwatch_event_rule.nat_igw.name
}

output "budget_name" {
  description = "Name of the monthly cost budget."
  value       = aws_budgets_budget.monthly.name
}
