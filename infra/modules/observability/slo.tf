# SLOs (docs/slo.md): each SLI is a pair of event counts (total, bad) that a component of this project or an AWS
# service publishes. Burn rate over a window = (bad / total) / (1 - objective). Multi-window, multi-burn-rate
# alerting (Google SRE workbook, ch. 5): a pair pages when its long AND its short window both burn faster than the
# factor: one metric-math alarm per window (no actions) and one composite alarm per pair (notifies the topic).
# The same definitions go to the health aggregator as JSON (output slo_spec -> HEALTHCHECK_SLO_SPEC), so /status
# computes its state from the same metrics, windows and factors (services/healthcheck/slo.py).
locals {
  health_dims = { Env = var.env }
  alb_dims    = { LoadBalancer = var.alb_arn_suffix }

  burn_pairs = {
    fast = { long = 3600, short = 300, burn_rate = 14.4 } # 2 % of a 28-day budget in 1 h
    slow = { long = 21600, short = 1800, burn_rate = 6 }  # 5 % of a 28-day budget in 6 h
  }

  slos = {
    dag-freshness = {
      objective   = var.slo_objectives.dag_freshness
      description = "DAG freshness: share of health rounds in which every live dagsync sidecar of the env synced within HEALTHCHECK_DAGSYNC_MAX_AGE"
      runbook     = "docs/runbooks/slo-dag-freshness.md"
      pairs       = ["fast", "slow"]
      total       = [{ namespace = var.health_namespace, metric = "DagFreshnessSamples", dimensions = local.health_dims }]
      bad         = [{ namespace = var.health_namespace, metric = "DagFreshnessBad", dimensions = local.health_dims }]
    }
    dag-publish = {
      objective   = var.slo_objectives.dag_publish
      description = "Publish to visible: share of dag-sync workflow publishes whose DAGs were visible in the Airflow API within 60 s"
      runbook     = "docs/runbooks/dag-not-appearing.md"
      pairs       = ["slow"] # a few publishes a day: one late publish is a ticket, not a page
      total       = [{ namespace = var.dagsync_namespace, metric = "DagPublishes", dimensions = local.health_dims }]
      bad         = [{ namespace = var.dagsync_namespace, metric = "DagPublishesLate", dimensions = local.health_dims }]
    }
    task-start = {
      objective   = var.slo_objectives.task_start
      description = "Task start latency: share of task instances that started within SCALER_START_SLO_SECONDS of being queued"
      runbook     = "docs/runbooks/slo-task-start.md"
      pairs       = ["fast", "slow"]
      total       = [{ namespace = var.scaler_namespace, metric = "TasksStarted", dimensions = local.scaler_dims }]
      bad         = [{ namespace = var.scaler_namespace, metric = "TasksStartedLate", dimensions = local.scaler_dims }]
    }
    worker-scale-up = {
      objective   = var.slo_objectives.worker_scale_up
      description = "Worker scale-up: share of scale-ups from zero workers whose first task ran within SCALER_SCALEUP_SLO_SECONDS"
      runbook     = "docs/runbooks/workers-not-scaling.md"
      pairs       = ["slow"] # rare events (only from zero)
      total       = [{ namespace = var.scaler_namespace, metric = "ScaleUps", dimensions = local.scaler_dims }]
      bad         = [{ namespace = var.scaler_namespace, metric = "ScaleUpsLate", dimensions = local.scaler_dims }]
    }
    scheduler-liveness = {
      objective   = var.slo_objectives.scheduler_liveness
      description = "Scheduler liveness: share of health rounds in which Airflow reported the scheduler healthy (heartbeat fresh)"
      runbook     = "docs/runbooks/scheduler-down.md"
      pairs       = ["fast", "slow"]
      total       = [{ namespace = var.health_namespace, metric = "SchedulerSamples", dimensions = local.health_dims }]
      bad         = [{ namespace = var.health_namespace, metric = "SchedulerBad", dimensions = local.health_dims }]
    }
    api-availability = {
      objective   = var.slo_objectives.api_availability
      description = "API availability: share of requests at the ALB answered without a 5xx (ALB-generated or from a target)"
      runbook     = "docs/runbooks/slo-api-availability.md"
      pairs       = ["fast", "slow"]
      total       = [{ namespace = "AWS/ApplicationELB", metric = "RequestCount", dimensions = local.alb_dims }]
      bad = [
        { namespace = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", dimensions = local.alb_dims },
        { namespace = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", dimensions = local.alb_dims },
      ]
    }
  }

  # One alarm per SLO x pair x window (long, short).
  slo_windows = merge([
    for s, slo in local.slos : merge([
      for p in slo.pairs : {
        for w in ["long", "short"] : "${s}-${p}-${w}" => { slo = s, pair = p, seconds = local.burn_pairs[p][w] }
      }
    ]...)
  ]...)
  slo_pairs = merge([for s, slo in local.slos : { for p in slo.pairs : "${s}-${p}" => { slo = s, pair = p } }]...)

  # "5m", "1h", "6h" for names and labels.
  window_label = { for sec in distinct([for w in values(local.slo_windows) : w.seconds]) : tostring(sec) => (sec % 3600 == 0 ? "${sec / 3600}h" : "${sec / 60}m") }

  # Metric math over the refs: FILL(.., 0) because AWS services publish error counts only when non-zero.
  slo_bad_expr   = { for s, slo in local.slos : s => join(" + ", [for i, _ in slo.bad : "FILL(b${i}, 0)"]) }
  slo_total_expr = { for s, slo in local.slos : s => join(" + ", [for i, _ in slo.total : "FILL(t${i}, 0)"]) }

  runbook_link = { for s, slo in local.slos : s => "${var.runbook_url_base}${slo.runbook}" }

  slo_spec = {
    window_days = 28
    pairs       = [for name, p in local.burn_pairs : { name = name, long = p.long, short = p.short, burn_rate = p.burn_rate }]
    slos = [for s, slo in local.slos : {
      name        = s
      objective   = slo.objective
      description = slo.description
      runbook     = slo.runbook
      pairs       = slo.pairs
      total       = slo.total
      bad         = slo.bad
    }]
  }
}

resource "aws_cloudwatch_metric_alarm" "slo_window" {
  for_each = local.slo_windows

  alarm_name          = "${var.name_prefix}-slo-${each.value.slo}-${local.window_label[tostring(each.value.seconds)]}-burn"
  alarm_description   = "${local.slos[each.value.slo].description}: burn rate over ${local.window_label[tostring(each.value.seconds)]} above ${local.burn_pairs[each.value.pair].burn_rate} (${each.value.pair} pair; notifies through ${var.name_prefix}-slo-${each.value.slo}-${each.value.pair}-burn). Runbook: ${local.runbook_link[each.value.slo]}"
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.burn_pairs[each.value.pair].burn_rate
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching" # no events spend no budget; no actions: the composite pages

  metric_query {
    id          = "burn"
    expression  = "IF(total > 0, bad / total, 0) / (1 - ${local.slos[each.value.slo].objective})"
    label       = "${each.value.slo} burn rate (${local.window_label[tostring(each.value.seconds)]})"
    return_data = true
  }

  metric_query {
    id         = "bad"
    expression = local.slo_bad_expr[each.value.slo]
  }

  metric_query {
    id         = "total"
    expression = local.slo_total_expr[each.value.slo]
  }

  dynamic "metric_query" {
    for_each = { for i, r in local.slos[each.value.slo].bad : "b${i}" => r }
    content {
      id = metric_query.key
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimensions
        stat        = "Sum"
        period      = each.value.seconds
      }
    }
  }

  dynamic "metric_query" {
    for_each = { for i, r in local.slos[each.value.slo].total : "t${i}" => r }
    content {
      id = metric_query.key
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimensions
        stat        = "Sum"
        period      = each.value.seconds
      }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_composite_alarm" "slo_burn" {
  for_each = local.slo_pairs

  alarm_name        = "${var.name_prefix}-slo-${each.value.slo}-${each.value.pair}-burn"
  alarm_description = "SLO ${each.value.slo} (objective ${local.slos[each.value.slo].objective} over 28 days) ${each.value.pair} burn: error budget burning ${local.burn_pairs[each.value.pair].burn_rate}x faster than sustainable over both ${local.window_label[tostring(local.burn_pairs[each.value.pair].long)]} and ${local.window_label[tostring(local.burn_pairs[each.value.pair].short)]}. Runbook: ${local.runbook_link[each.value.slo]}"
  alarm_rule        = "ALARM(\"${aws_cloudwatch_metric_alarm.slo_window["${each.key}-long"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_window["${each.key}-short"].alarm_name}\")"
  alarm_actions     = local.actions
  ok_actions        = local.actions
  tags              = var.tags
}
