# Worker scaling wiring, as docs/adr/0002-scaling.md decides. In the default "scaler" mode the scaler service sets the
# worker service's desiredCount itself (its IAM and env live in the compute module) and nothing here is created:
# two controllers on one desiredCount fight. "aas" mode is the documented alternative.
locals {
  aas        = var.mode == "aas"
  dimensions = { env = var.env, service = var.service_name }
}

resource "aws_appautoscaling_target" "worker" {
  count = local.aas ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${var.service_name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = var.tags
}

# WorkerShortfall = desired - current, published at 0 workers too (target tracking would do nothing on missing data).
resource "aws_appautoscaling_policy" "scale_out" {
  count = local.aas ? 1 : 0

  name               = "${var.name_prefix}-worker-scale-out"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker[0].service_namespace
  resource_id        = aws_appautoscaling_target.worker[0].resource_id
  scalable_dimension = aws_appautoscaling_target.worker[0].scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      metric_interval_upper_bound = 2
      scaling_adjustment          = 1
    }

    step_adjustment {
      metric_interval_lower_bound = 2
      metric_interval_upper_bound = 5
      scaling_adjustment          = 3
    }

    step_adjustment {
      metric_interval_lower_bound = 5
      scaling_adjustment          = 5
    }
  }
}

resource "aws_appautoscaling_policy" "scale_in" {
  count = local.aas ? 1 : 0

  name               = "${var.name_prefix}-worker-scale-in"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker[0].service_namespace
  resource_id        = aws_appautoscaling_target.worker[0].resource_id
  scalable_dimension = aws_appautoscaling_target.worker[0].scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "shortfall_high" {
  count = local.aas ? 1 : 0

  alarm_name          = "${var.name_prefix}-worker-shortfall-high"
  alarm_description   = "Queue needs more workers than run (scaler's WorkerShortfall > 0): scale out"
  namespace           = var.scaler_namespace
  metric_name         = "WorkerShortfall"
  dimensions          = local.dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_out[0].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "shortfall_low" {
  count = local.aas ? 1 : 0

  alarm_name          = "${var.name_prefix}-worker-shortfall-low"
  alarm_description   = "More workers than the queue needs for 5 minutes (WorkerShortfall < 0): scale in"
  namespace           = var.scaler_namespace
  metric_name         = "WorkerShortfall"
  dimensions          = local.dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "LessThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_in[0].arn]
  tags                = var.tags
}

resource "aws_appautoscaling_scheduled_action" "this" {
  for_each = local.aas ? var.schedules : {}

  name               = "${var.name_prefix}-worker-${each.key}"
  service_namespace  = aws_appautoscaling_target.worker[0].service_namespace
  resource_id        = aws_appautoscaling_target.worker[0].resource_id
  scalable_dimension = aws_appautoscaling_target.worker[0].scalable_dimension
  schedule           = each.value.schedule
  timezone           = var.timezone

  scalable_target_action {
    min_capacity = each.value.min_capacity
    max_capacity = each.value.max_capacity
  }
}
