# The FAB auth manager's users (docs/adr/0006-secrets-and-sso.md): the first admin and the dag-sync workflow's machine
# account. Secrets Manager generates each password once (no random provider; ignore_changes keeps the first value and
# a value put later by hand). The one-off migration task gets both through ECS `secrets` and creates or updates the
# users (images/airflow/platform_users.py), so a changed secret takes effect with `infra migrate ENV`.
locals {
  auth_users = { admin = var.admin_username, ci = var.ci_username }
  # By name, so the migration task's execution policy is known at plan time.
  auth_secret_arns = { for k, _ in local.auth_users : k => "${local.arn_prefix.sm}:${var.name_prefix}-airflow-${k}-??????" }
}

data "aws_secretsmanager_random_password" "auth" {
  for_each = local.auth_users

  password_length     = 32
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "auth" {
  #checkov:skip=CKV2_AWS_57: a new password takes effect only when the migration task re-runs (`infra migrate ENV`); rotated by runbook, see docs/adr/0006-secrets-and-sso.md
  for_each = local.auth_users

  name                    = "${var.name_prefix}-airflow-${each.key}"
  description             = each.key == "admin" ? "Airflow's first admin (FAB user, role Admin): username, password" : "Airflow machine account of the dag-sync workflow (FAB user, role CI): username, password"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "auth" {
  for_each = local.auth_users

  secret_id     = aws_secretsmanager_secret.auth[each.key].id
  secret_string = jsonencode({ username = each.value, password = data.aws_secretsmanager_random_password.auth[each.key].random_password })

  lifecycle {
    ignore_changes = [secret_string]
  }
}
