# Internal ALB: HTTPS only (HTTP redirects), optional OIDC/SSO in front of the UI, the health aggregator under
# /status and /platform/*. See docs/adr/0006-secrets-and-sso.md.
locals {
  oidc_on = var.oidc != null
  # Machine paths skip OIDC: Airflow authenticates them itself (JWT). Workers call the execution API; CI and
  # scripts get a token from /auth/token and call /api/v2/* (scripts/wait_dag_visible.py). A browser login
  # redirect would break all of them. (An ALB rule takes at most 5 path patterns.)
  machine_paths = ["/execution/*", "/auth/token", "/api/v2/*"]
  # The health aggregator: its page, /status, /metrics and API docs under var.healthcheck_root_path (the
  # service runs with HEALTHCHECK_ROOT_PATH), plus /status at the root. Behind OIDC when it is on.
  healthcheck_paths = ["/status", "/status/*", var.healthcheck_root_path, "${var.healthcheck_root_path}/*"]
}

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-alb"
  description = "Internal ALB: HTTPS/HTTP from allowed CIDRs"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct(var.allowed_cidrs, [80, 443]) : "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] } }

  security_group_id = aws_security_group.alb.id
  description       = "Port ${each.value.port} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

# authenticate-oidc: the ALB calls the IdP's token and user-info endpoints itself, over 443. With no NAT that works
# only over private routing to the IdP (docs/adr/0006-secrets-and-sso.md); 443 to exactly those destinations.
locals {
  idp_cidrs        = local.oidc_on ? toset(var.oidc.idp_egress_cidrs) : toset([])
  idp_prefix_lists = local.oidc_on ? toset(var.oidc.idp_egress_prefix_list_ids) : toset([])
}

resource "aws_vpc_security_group_egress_rule" "alb_to_idp_cidr" {
  for_each = local.idp_cidrs

  security_group_id = aws_security_group.alb.id
  description       = "OIDC: HTTPS to the IdP at ${each.value} (private routing)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_egress_rule" "alb_to_idp_prefix_list" {
  for_each = local.idp_prefix_lists

  security_group_id = aws_security_group.alb.id
  description       = "OIDC: HTTPS to the IdP prefix list ${each.value} (private routing)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  for_each = { api = var.api_port, healthcheck = var.healthcheck_port }

  security_group_id            = aws_security_group.alb.id
  description                  = "To the ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = var.tasks_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  for_each = { api = var.api_port, healthcheck = var.healthcheck_port }

  security_group_id            = var.tasks_security_group_id
  description                  = "From the ALB to ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_150: deletion protection is a per-env variable (default true; prod true, dev false)
  #checkov:skip=CKV_AWS_91: ALB access logs need an SSE-S3 bucket and every bucket here is SSE-KMS; request metrics and alarms cover the ALB
  #checkov:skip=CKV2_AWS_28: internal ALB, reachable only from allowed private CIDRs; no internet exposure for a WAF to filter
  name                       = "${var.name_prefix}-alb"
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  tags = merge(var.tags, { Name = "${var.name_prefix}-alb" })
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378: TLS ends at the internal ALB; targets are private-subnet tasks reachable only from the ALB security group
  name                 = "${var.name_prefix}-api"
  port                 = var.api_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.api_health_path
    matcher             = "200"
    interval            = var.target_health.interval
    timeout             = var.target_health.timeout
    healthy_threshold   = var.target_health.healthy_threshold
    unhealthy_threshold = var.target_health.unhealthy_threshold
  }

  tags = var.tags
}

resource "aws_lb_target_group" "healthcheck" {
  #checkov:skip=CKV_AWS_378: TLS ends at the internal ALB; targets are private-subnet tasks reachable only from the ALB security group
  name                 = "${var.name_prefix}-hc"
  port                 = var.healthcheck_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.healthcheck_health_path
    matcher             = "200"
    interval            = var.target_health.interval
    timeout             = var.target_health.timeout
    healthy_threshold   = var.target_health.healthy_threshold
    unhealthy_threshold = var.target_health.unhealthy_threshold
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

data "aws_secretsmanager_secret_version" "oidc" {
  count     = local.oidc_on ? 1 : 0
  secret_id = var.oidc.client_secret_arn
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  dynamic "default_action" {
    for_each = local.oidc_on ? [1] : []
    content {
      type  = "authenticate-oidc"
      order = 1
      authenticate_oidc {
        issuer                 = var.oidc.issuer
        authorization_endpoint = var.oidc.authorization_endpoint
        token_endpoint         = var.oidc.token_endpoint
        user_info_endpoint     = var.oidc.user_info_endpoint
        client_id              = var.oidc.client_id
        client_secret          = data.aws_secretsmanager_secret_version.oidc[0].secret_string
        scope                  = var.oidc.scope
        session_timeout        = var.oidc.session_timeout
      }
    }
  }

  default_action {
    type             = "forward"
    order            = local.oidc_on ? 2 : 1
    target_group_arn = aws_lb_target_group.api.arn
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "machine" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    path_pattern {
      values = local.machine_paths
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "status" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 20

  dynamic "action" {
    for_each = local.oidc_on ? [1] : []
    content {
      type  = "authenticate-oidc"
      order = 1
      authenticate_oidc {
        issuer                 = var.oidc.issuer
        authorization_endpoint = var.oidc.authorization_endpoint
        token_endpoint         = var.oidc.token_endpoint
        user_info_endpoint     = var.oidc.user_info_endpoint
        client_id              = var.oidc.client_id
        client_secret          = data.aws_secretsmanager_secret_version.oidc[0].secret_string
        scope                  = var.oidc.scope
        session_timeout        = var.oidc.session_timeout
      }
    }
  }

  action {
    type             = "forward"
    order            = local.oidc_on ? 2 : 1
    target_group_arn = aws_lb_target_group.healthcheck.arn
  }

  condition {
    path_pattern {
      values = local.healthcheck_paths
    }
  }

  tags = var.tags
}
