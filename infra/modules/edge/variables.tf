variable "name_prefix" {
  description = "Name prefix for every resource: <org>-airflow-<env>."
  type        = string

  validation {
    condition     = length("${var.name_prefix}-alb") <= 32
    error_message = "The load balancer name <org>-airflow-<env>-alb must be at most 32 characters (AWS's limit): shorten org."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the internal ALB (at least 2 AZs)."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "Client CIDRs allowed to reach the ALB (VPC, VPN, peered networks). Never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : c != "0.0.0.0/0" && c != "::/0"])
    error_message = "allowed_cidrs must not contain 0.0.0.0/0 or ::/0: the ALB is internal."
  }
}

variable "tasks_security_group_id" {
  description = "Security group of the ECS tasks behind the ALB."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "idle_timeout" {
  description = "ALB idle timeout in seconds (>= 120: long log streams and API calls)."
  type        = number
  default     = 120

  validation {
    condition     = var.idle_timeout >= 120
    error_message = "idle_timeout must be at least 120 seconds."
  }
}

variable "deletion_protection" {
  description = "ALB deletion protection (prod)."
  type        = bool
  default     = true
}

variable "api_port" {
  description = "Port of the Airflow api-server container."
  type        = number
  default     = 8080
}

variable "api_health_path" {
  description = "Health path of the api-server target group."
  type        = string
  default     = "/api/v2/monitor/health"
}

variable "healthcheck_port" {
  description = "Port of the healthcheck service container."
  type        = number
  default     = 8000
}

variable "healthcheck_root_path" {
  description = "URL prefix the health aggregator serves its page, /status, /metrics and API docs under (its HEALTHCHECK_ROOT_PATH); / is the Airflow UI."
  type        = string
  default     = "/platform"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._-]+$", var.healthcheck_root_path))
    error_message = "healthcheck_root_path must be one path segment like /platform."
  }
}

variable "healthcheck_health_path" {
  description = "Liveness path of the healthcheck service."
  type        = string
  default     = "/health"
}

variable "target_health" {
  description = "Target group health check timings."
  type = object({
    interval            = number
    timeout             = number
    healthy_threshold   = number
    unhealthy_threshold = number
  })
  default = {
    interval            = 30
    timeout             = 10
    healthy_threshold   = 2
    unhealthy_threshold = 5
  }

  validation {
    condition     = var.target_health.interval >= 30 && var.target_health.timeout >= 5 && var.target_health.unhealthy_threshold >= 3
    error_message = "target_health below the floors: interval >= 30, timeout >= 5, unhealthy_threshold >= 3."
  }
}

variable "oidc" {
  description = "OIDC/SSO for the UI (null = off). client_secret_arn names a Secrets Manager secret holding the client secret. The ALB itself calls the IdP's token and user-info endpoints over 443, and the VPC has no NAT: idp_egress_cidrs and/or idp_egress_prefix_list_ids name the IdP's addresses reached over your private routing (transit gateway, VPN, Direct Connect); the ALB's security group allows 443 to exactly those. Empty = no route to the IdP, which the policy gate (infra/policies/sso.rego) refuses."
  type = object({
    issuer                     = string
    authorization_endpoint     = string
    token_endpoint             = string
    user_info_endpoint         = string
    client_id                  = string
    client_secret_arn          = string
    scope                      = optional(string, "openid email profile")
    session_timeout            = optional(number, 43200)
    idp_egress_cidrs           = optional(list(string), [])
    idp_egress_prefix_list_ids = optional(list(string), [])
  })
  default = null

  validation {
    condition     = var.oidc == null || alltrue([for c in try(var.oidc.idp_egress_cidrs, []) : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "oidc.idp_egress_cidrs must be the IdP's CIDRs reached over private routing, never 0.0.0.0/0 or ::/0 (the VPC has no NAT)."
  }

  validation {
    condition     = var.oidc == null || alltrue([for p in try(var.oidc.idp_egress_prefix_list_ids, []) : can(regex("^pl-[0-9a-f]+$", p))])
    error_message = "oidc.idp_egress_prefix_list_ids must be managed prefix list ids (pl-...)."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
