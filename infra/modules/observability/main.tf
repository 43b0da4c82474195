# Dashboard, alarms, the NAT/IGW tripwire, cost guards and audit. Alarms notify one CMK-encrypted SNS topic.
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  actions    = [aws_sns_topic.alarms.arn]

  scaler_dims = { env = var.env, service = var.worker_service_name }
  redis_nodes = [for i in range(var.redis_num_cache_clusters) : format("%s-%03d", var.redis_replication_group_id, i + 1)]
}

# --- notifications ------------------------------------------------------------------------------------------------
resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags

  lifecycle {
    # An alarm nobody receives is silent: prod must name at least one subscriber (docs/slo.md).
    precondition {
      condition     = !var.require_alarm_subscriber || length(var.alarm_emails) + length(var.alarm_endpoints) > 0
      error_message = "require_alarm_subscriber is set but the alarm topic has no subscriber: set alarm_emails or alarm_endpoints (e.g. a PagerDuty/Opsgenie https endpoint)."
    }
  }
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid     = "AwsServicesPublish"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"]
    }
    resources = [aws_sns_topic.alarms.arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "endpoint" {
  for_each = { for e in var.alarm_endpoints : "${e.protocol}:${e.endpoint}" => e }

  topic_arn              = aws_sns_topic.alarms.arn
  protocol               = each.value.protocol
  endpoint               = each.value.endpoint
  endpoint_auto_confirms = each.value.protocol == "https"
}

# --- DAG sync freshness: dagsync logs one JSON "cycle" event per sync (services/dagsync/sync.py) -----------------------
resource "aws_cloudwatch_log_metric_filter" "dagsync_ok" {
  for_each = toset(var.airflow_log_group_names)

  name           = "${var.name_prefix}-dagsync-ok-${replace(basename(each.value), "/", "-")}"
  log_group_name = each.value
  pattern        = "{ $.event = \"cycle\" && $.ok IS TRUE }"

  metric_transformation {
    name      = "SyncSuccess"
    namespace = var.dagsync_namespace
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_log_metric_filter" "dagsync_failed" {
  for_each = toset(var.airflow_log_group_names)

  name           = "${var.name_prefix}-dagsync-failed-${replace(basename(each.value), "/", "-")}"
  log_group_name = each.value
  pattern        = "{ $.event = \"cycle\" && $.ok IS FALSE }"

  metric_transformation {
    name      = "SyncFailure"
    namespace = var.dagsync_namespace
    value     = "1"
    unit      = "Count"
  }
}

# The worst sidecar of this env: the health aggregator reads every sidecar's status file (shared EFS state dir) and
# publishes the oldest live one's age with the Env dimension (services/healthcheck/publish.py). No datapoint (no
# live sidecar, or the aggregator stopped publishing) breaches. With task-local DAG volumes (dags_storage =
# "ephemeral") there are no shared status files: the alarm falls back to the sidecars' log metric, which has no
# per-env or per-sidecar dimension (each task's sidecar health check guards its own task there).
resource "aws_cloudwatch_metric_alarm" "sync_stale" {
  alarm_name          = "${var.name_prefix}-dagsync-stale"
  alarm_description   = var.dag_freshness_from_healthcheck ? "The oldest live DAG sync sidecar of ${var.env} last synced more than ${var.sync_stale_minutes} minutes ago (or no sidecar reports): Airflow runs stale DAGs. Runbook: ${var.runbook_url_base}docs/runbooks/sync-stale.md" : "No DAG sync cycle succeeded in ${var.sync_stale_minutes} minutes: Airflow runs stale DAGs. Runbook: ${var.runbook_url_base}docs/runbooks/sync-stale.md"
  namespace           = var.dag_freshness_from_healthcheck ? var.health_namespace : var.dagsync_namespace
  metric_name         = var.dag_freshness_from_healthcheck ? "DagSyncWorstAge" : "SyncSuccess"
  dimensions          = var.dag_freshness_from_healthcheck ? local.health_dims : null
  statistic           = var.dag_freshness_from_healthcheck ? "Maximum" : "Sum"
  period              = 300
  evaluation_periods  = var.dag_freshness_from_healthcheck ? 1 : ceil(var.sync_stale_minutes / 5)
  comparison_operator = var.dag_freshness_from_healthcheck ? "GreaterThanThreshold" : "LessThanThreshold"
  threshold           = var.dag_freshness_from_healthcheck ? var.sync_stale_minutes * 60 : 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# --- ECS ----------------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "scheduler_down" {
  alarm_name          = "${var.name_prefix}-scheduler-down"
  alarm_description   = "No running scheduler task for 3 minutes. Runbook: ${var.runbook_url_base}docs/runbooks/scheduler-down.md"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = var.service_names["scheduler"] }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "running_below_desired" {
  for_each = var.service_names

  alarm_name          = "${var.name_prefix}-${each.key}-running-below-desired"
  alarm_description   = "${each.key}: fewer tasks running than desired for 10 minutes. Runbook: ${var.runbook_url_base}docs/runbooks/${each.key == "worker" ? "workers-not-scaling" : each.key == "scheduler" ? "scheduler-down" : "rollback-deploy"}.md"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 10
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "shortfall"
    expression  = "desired - running"
    label       = "desired - running"
    return_data = true
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = each.value }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "running"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = each.value }
      stat        = "Maximum"
      period      = 60
    }
  }

  tags = var.tags
}

# --- queue and scaler (docs/adr/0002-scaling.md) ---------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "backlog_high" {
  alarm_name          = "${var.name_prefix}-backlog-high"
  alarm_description   = "More than ${var.backlog_threshold} queued task instances for 15 minutes. Runbook: ${var.runbook_url_base}docs/runbooks/workers-not-scaling.md"
  namespace           = var.scaler_namespace
  metric_name         = "QueuedTasks"
  dimensions          = local.scaler_dims
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.backlog_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "scaler_errors" {
  alarm_name          = "${var.name_prefix}-scaler-errors"
  alarm_description   = "The scaler failed to measure for 3 minutes (it holds the previous desired count). Runbook: ${var.runbook_url_base}docs/runbooks/workers-not-scaling.md"
  namespace           = var.scaler_namespace
  metric_name         = "ScalerErrors"
  dimensions          = local.scaler_dims
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "scaler_down" {
  alarm_name          = "${var.name_prefix}-scaler-down"
  alarm_description   = "No DesiredWorkers datapoint for 5 minutes: the scaler is down (workers keep their count). Runbook: ${var.runbook_url_base}docs/runbooks/workers-not-scaling.md"
  namespace           = var.scaler_namespace
  metric_name         = "DesiredWorkers"
  dimensions          = local.scaler_dims
  statistic           = "SampleCount"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# --- RDS ----------------------------------------------------------------------------------------------------------
locals {
  rds_alarms = {
    cpu-high        = { metric = "CPUUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 80, desc = "RDS CPU above 80% for 15 minutes" }
    storage-low     = { metric = "FreeStorageSpace", stat = "Minimum", op = "LessThanThreshold", threshold = 2147483648, desc = "RDS free storage below 2 GiB" }
    memory-low      = { metric = "FreeableMemory", stat = "Minimum", op = "LessThanThreshold", threshold = 268435456, desc = "RDS freeable memory below 256 MiB" }
    connections-max = { metric = "DatabaseConnections", stat = "Maximum", op = "GreaterThanThreshold", threshold = 300, desc = "RDS connections above 300" }
  }
  redis_alarms = {
    cpu-high    = { metric = "EngineCPUUtilization", threshold = 80, desc = "Redis engine CPU above 80% for 15 minutes" }
    memory-high = { metric = "DatabaseMemoryUsagePercentage", threshold = 80, desc = "Redis memory above 80%: the broker may evict or refuse" }
  }
  # Keys are static (node number + kind): the group ID may be unknown until apply.
  redis_alarm_pairs = { for p in setproduct(range(var.redis_num_cache_clusters), keys(local.redis_alarms)) : format("%03d-%s", p[0] + 1, p[1]) => { node = local.redis_nodes[p[0]], kind = p[1] } }
}

resource "aws_cloudwatch_metric_alarm" "rds" {
  for_each = local.rds_alarms

  alarm_name          = "${var.name_prefix}-rds-${each.key}"
  alarm_description   = each.value.desc
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = var.db_instance_identifier }
  statistic           = each.value.stat
  period              = 300
  evaluation_periods  = 3
  comparison_operator = each.value.op
  threshold           = each.value.threshold
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "redis" {
  for_each = local.redis_alarm_pairs

  alarm_name          = "${var.name_prefix}-redis-${each.key}"
  alarm_description   = "${local.redis_alarms[each.value.kind].desc} (${each.value.node}). Runbook: ${var.runbook_url_base}docs/runbooks/redis-failover.md"
  namespace           = "AWS/ElastiCache"
  metric_name         = local.redis_alarms[each.value.kind].metric
  dimensions          = { CacheClusterId = each.value.node }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.redis_alarms[each.value.kind].threshold
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# --- ALB ----------------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  for_each = { elb = "HTTPCode_ELB_5XX_Count", target = "HTTPCode_Target_5XX_Count" }

  alarm_name          = "${var.name_prefix}-alb-${each.key}-5xx"
  alarm_description   = "More than 10 ${each.value} in 5 minutes. Runbook: ${var.runbook_url_base}docs/runbooks/slo-api-availability.md"
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.value
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 10
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_unhealthy" {
  alarm_name          = "${var.name_prefix}-api-unhealthy-targets"
  alarm_description   = "api-server targets failing the ALB health check for 5 minutes. Runbook: ${var.runbook_url_base}docs/runbooks/slo-api-availability.md"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.api_target_group_arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# --- cost guards: endpoint traffic, budget; tripwire on NAT/IGW creation --------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "endpoint_bytes" {
  for_each = var.interface_endpoint_ids

  alarm_name          = "${var.name_prefix}-vpce-${replace(each.key, ".", "-")}-bytes-high"
  alarm_description   = "Interface endpoint ${each.key} processed more than ${var.endpoint_bytes_threshold} bytes in an hour (data-processing cost). Runbook: ${var.runbook_url_base}docs/runbooks/cost-spike.md"
  namespace           = "AWS/PrivateLinkEndpoints"
  metric_name         = "BytesProcessed"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.endpoint_bytes_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  dimensions = {
    "VPC Id"          = var.vpc_id
    "VPC Endpoint Id" = each.value
    "Endpoint Type"   = "Interface"
    "Service Name"    = "com.amazonaws.${local.region}.${each.key}"
  }

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "nat_igw" {
  name        = "${var.name_prefix}-nat-igw-created"
  description = "Tripwire: someone created a NAT or internet gateway (the platform is NAT-free, docs/adr/0003-nat-free-vpc-endpoints.md)"
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["ec2.amazonaws.com"]
      eventName   = ["CreateNatGateway", "CreateInternetGateway", "AttachInternetGateway", "CreateEgressOnlyInternetGateway"]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "nat_igw" {
  rule      = aws_cloudwatch_event_rule.nat_igw.name
  target_id = "alarm-topic"
  arn       = aws_sns_topic.alarms.arn
}

resource "aws_budgets_budget" "monthly" {
  name         = "${var.name_prefix}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = ["user:${var.budget_cost_filter_tag}"]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  tags = var.tags
}

# --- dashboard --------------------------------------------------------------------------------------------------------
locals {
  svc_list = [for k in sort(keys(var.service_names)) : var.service_names[k]]
  widget = {
    ecs_running = {
      title   = "ECS services: running tasks"
      metrics = [for s in local.svc_list : ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.cluster_name, "ServiceName", s]]
    }
    queue = {
      title = "Queue depth vs desired workers"
      metrics = [
        [var.scaler_namespace, "QueuedTasks", "env", var.env, "service", var.worker_service_name],
        [var.scaler_namespace, "RunningTasks", "env", var.env, "service", var.worker_service_name],
        [var.scaler_namespace, "BrokerDepth", "env", var.env, "service", var.worker_service_name],
        [var.scaler_namespace, "DesiredWorkers", "env", var.env, "service", var.worker_service_name, { yAxis = "right" }],
        [var.scaler_namespace, "CurrentWorkers", "env", var.env, "service", var.worker_service_name, { yAxis = "right" }],
      ]
    }
    rds = {
      title = "RDS"
      metrics = [
        ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_instance_identifier],
        ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_identifier, { yAxis = "right" }],
      ]
    }
    redis = {
      title   = "Redis"
      metrics = [for n in local.redis_nodes : ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", n]]
    }
    alb = {
      title = "ALB"
      metrics = [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
        ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
        ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { yAxis = "right", stat = "p99" }],
      ]
    }
    dagsync = {
      title = "DAG sync freshness: successful / failed cycles"
      metrics = [
        [var.dagsync_namespace, "SyncSuccess", { stat = "Sum" }],
        [var.dagsync_namespace, "SyncFailure", { stat = "Sum" }],
      ]
    }
    # SLOs (docs/slo.md): burn rate over 1 h per SLO (1 = spending exactly the 28-day budget), then the SLIs.
    slo_burn = {
      title  = "SLO burn rate, 1 h (1 = on budget; fast pair pages above 14.4)"
      period = 3600
      metrics = concat(
        # concat(...) joins one level of lists; flatten would also flatten each metric's array.
        concat([for j, s in keys(local.slos) : concat([
          for kind in ["bad", "total"] : [
            for i, r in local.slos[s][kind] : concat([r.namespace, r.metric], flatten([for k, v in r.dimensions : [k, v]]), [{ id = "s${j}${substr(kind, 0, 1)}${i}", visible = false, stat = "Sum" }])
          ]
        ]...)]...),
        [for j, s in keys(local.slos) : [{
          id         = "e${j}"
          label      = s
          expression = "IF((${join(" + ", [for i, _ in local.slos[s].total : "FILL(s${j}t${i}, 0)"])}) > 0, (${join(" + ", [for i, _ in local.slos[s].bad : "FILL(s${j}b${i}, 0)"])}) / (${join(" + ", [for i, _ in local.slos[s].total : "FILL(s${j}t${i}, 0)"])}), 0) / (1 - ${local.slos[s].objective})"
        }]],
      )
    }
    sli_freshness = {
      title = "SLI: DAG freshness (worst sidecar and each sidecar, s), publish -> visible (s)"
      stat  = "Maximum"
      metrics = [
        [var.health_namespace, "DagSyncWorstAge", "Env", var.env],
        [{ id = "sidecars", expression = "SEARCH('{${var.health_namespace},Env,Sidecar} MetricName=\"DagSyncAge\" Env=\"${var.env}\"', 'Maximum', 60)" }],
        [var.dagsync_namespace, "PublishToVisibleSeconds", "Env", var.env, { yAxis = "right" }],
      ]
    }
    sli_tasks = {
      title = "SLI: task start (oldest queued, p50/p95 queued -> start per queue, s), scale-up from zero (s)"
      stat  = "Maximum"
      metrics = concat(
        [[var.scaler_namespace, "OldestQueuedAge", "env", var.env, "service", var.worker_service_name]],
        concat([for q in var.scaler_queues : [
          [var.scaler_namespace, "TaskStartLatencyP50", "env", var.env, "service", var.worker_service_name, "queue", q],
          [var.scaler_namespace, "TaskStartLatencyP95", "env", var.env, "service", var.worker_service_name, "queue", q],
        ]]...),
        [[var.scaler_namespace, "ScaleUpSeconds", "env", var.env, "service", var.worker_service_name, { yAxis = "right" }]],
      )
    }
    sli_platform = {
      title = "SLI: scheduler heartbeat age (s); API: target response time p95 (s), healthy hosts"
      metrics = [
        [var.health_namespace, "SchedulerHeartbeatAge", "Env", var.env, { stat = "Maximum" }],
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p95" }],
        ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", var.api_target_group_arn_suffix, "LoadBalancer", var.alb_arn_suffix, { stat = "Minimum", yAxis = "right" }],
      ]
    }
  }
  widget_order = ["slo_burn", "sli_freshness", "sli_tasks", "sli_platform", "ecs_running", "queue", "rds", "redis", "alb", "dagsync"]
  # ARNs built from the names, so the dashboard body is known at plan time.
  slo_page_alarms = [for a in aws_cloudwatch_composite_alarm.slo_burn : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${a.alarm_name}"]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-overview"
  dashboard_body = jsonencode({
    widgets = concat(
      [{
        type       = "alarm"
        x          = 0
        y          = 0
        width      = 24
        height     = 3
        properties = { title = "SLO burn-rate alarms (docs/slo.md)", alarms = local.slo_page_alarms }
      }],
      [for i, k in local.widget_order : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = 3 + floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = local.widget[k].title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = try(local.widget[k].period, 60)
          stat    = try(local.widget[k].stat, "Average")
          metrics = local.widget[k].metrics
        }
      }],
    )
  })
}
