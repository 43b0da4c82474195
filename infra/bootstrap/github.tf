# --- GitHub Actions OIDC: short-lived credentials per job, no access keys (docs/adr/0010-ci-cd.md) ----------------
# Only with var.github_repository set. One role per purpose; deploy and DAG-publish roles trust one GitHub
# environment each (`repo:<owner>/<repo>:environment:<env>`), so only jobs that passed that environment's
# protection rules (prod: required reviewers) can assume them.
locals {
  github      = var.github_repository != ""
  oidc_host   = "token.actions.githubusercontent.com"
  oidc_arn    = local.github ? (var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.oidc_host}") : ""
  env_set     = local.github ? toset(var.envs) : toset([])
  state_arn   = "arn:${local.partition}:s3:::${local.bucket_name}" # known at plan time (names are fixed)
  dags_arn    = "arn:${local.partition}:s3:::${local.dags_bucket}"
  repo_arns   = [for k in local.images : "arn:${local.partition}:ecr:${var.region}:${local.account_id}:repository/${var.org}-airflow-${k}"]
  name_prefix = "${var.org}-airflow"
  # Trust pins `sub` to this repository (CKV_AWS_358); with github_repository empty no role exists at all.
  gh_owner = var.github_repository == "" ? "unset" : split("/", var.github_repository)[0]
  gh_name  = var.github_repository == "" ? "unset" : split("/", var.github_repository)[1]
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github && var.create_github_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

# One trust statement for every CI role: the token's audience, and its `sub` pinned to this repository and to the
# refs or GitHub environment the role serves. Keys: the account-wide roles (plan, images) and env-<env>.
data "aws_iam_policy_document" "trust" {
  #checkov:skip=CKV_AWS_358: sub is pinned to repo:<owner>/<repo>:... for every key; checkov cannot evaluate the for expression, tests/workflows/test_bootstrap.py asserts the rendered subjects
  for_each = local.github ? merge(
    { plan = ["pull_request", "ref:refs/heads/main"], images = ["ref:refs/heads/main"] },
    { for e in var.envs : "env-${e}" => ["environment:${e}"] },
  ) : {}

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "${local.oidc_host}:sub"
      values   = [for s in each.value : "repo:${local.gh_owner}/${local.gh_name}:${s}"]
    }
  }
}

# --- plan (PRs and main): read-only, plus the state lock file -------------------------------------------------------
data "aws_iam_policy_document" "state_access" {
  statement {
    sid       = "StateRead"
    actions   = ["s3:ListBucket", "s3:GetObject"]
    resources = [local.state_arn, "${local.state_arn}/envs/*"]
  }
  statement {
    sid       = "StateLockFile"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_arn}/envs/*/terraform.tfstate.tflock"]
  }
  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [module.state_bucket.kms_key_arn]
  }
}


# What an env plan reads beyond ReadOnlyAccess: its data sources (tests/workflows/test_bootstrap.py maps each
# data source type of infra/modules and infra/envs to the calls it makes and checks this role covers them).
# The OIDC client secret (modules/edge) is readable only when listed in plan_secret_arns: the env state (readable
# by this role) holds it anyway, so a plan of an OIDC env needs it and reveals nothing new.
data "aws_iam_policy_document" "plan_reads" {
  statement {
    sid       = "RandomPasswords"
    actions   = ["secretsmanager:GetRandomPassword"] # data.aws_secretsmanager_random_password (modules/security)
    resources = ["*"]                                # no resource-level permissions
  }
  dynamic "statement" {
    for_each = length(var.plan_secret_arns) > 0 ? [1] : []
    content {
      sid       = "SecretsThePlanReads"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = var.plan_secret_arns
    }
  }
  dynamic "statement" {
    for_each = length(var.plan_secret_arns) > 0 ? [1] : []
    content {
      sid       = "TheirKeysThroughSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }
      condition {
        test     = "ForAnyValue:StringLike"
        variable = "kms:EncryptionContext:SecretARN"
        values   = var.plan_secret_arns
      }
    }
  }
}


# --- images (main): push to the three ECR repositories only -------------------------------------------------------
data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid = "EcrPush"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = local.repo_arns
  }
  statement {
    sid       = "EcrKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [module.state_bucket.kms_key_arn]
  }
}

# The account-wide CI roles: plan (PRs and main: ReadOnlyAccess + state_access + plan_reads) and images (main: ECR
# push). Deploy and DAG-publish roles are per env, below.
locals {
  ci_roles = local.github ? {
    plan = {
      managed_policy = "ReadOnlyAccess"
      policies = {
        state        = data.aws_iam_policy_document.state_access.json
        "plan-reads" = data.aws_iam_policy_document.plan_reads.json
      }
    }
    images = {
      managed_policy = null
      policies       = { "ecr-push" = data.aws_iam_policy_document.ecr_push.json }
    }
  } : {}
  ci_role_policies = merge([
    for role, r in local.ci_roles : { for name, json in r.policies : "${role}/${name}" => { role = role, name = name, policy = json } }
  ]...)
}

resource "aws_iam_role" "ci" {
  for_each = local.ci_roles

  name                 = "${local.name_prefix}-gha-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "ci" {
  for_each = { for role, r in local.ci_roles : role => r.managed_policy if r.managed_policy != null }

  role       = aws_iam_role.ci[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_role_policy" "ci" {
  for_each = local.ci_role_policies

  name   = each.value.name
  role   = aws_iam_role.ci[each.value.role].id
  policy = each.value.policy
}

# Addresses before the for_each (state of an existing bootstrap moves, nothing is replaced).
moved {
  from = aws_iam_role.plan[0]
  to   = aws_iam_role.ci["plan"]
}

moved {
  from = aws_iam_role.images[0]
  to   = aws_iam_role.ci["images"]
}

moved {
  from = aws_iam_role_policy_attachment.plan_readonly[0]
  to   = aws_iam_role_policy_attachment.ci["plan"]
}

moved {
  from = aws_iam_role_policy.plan_state[0]
  to   = aws_iam_role_policy.ci["plan/state"]
}

moved {
  from = aws_iam_role_policy.plan_reads[0]
  to   = aws_iam_role_policy.ci["plan/plan-reads"]
}

moved {
  from = aws_iam_role_policy.images[0]
  to   = aws_iam_role_policy.ci["images/ecr-push"]
}

# --- deploy (environment <env>): PowerUser for the stack's services, IAM only on the env's own names ---------------
# The CI roles are named <org>-airflow-gha-*, outside the <org>-airflow-<env>-* scope below, so a deploy role
# cannot edit itself. It can still create roles for the stack (that is its job): prod approval is the control.
data "aws_iam_policy_document" "deploy_iam" {
  for_each = local.env_set

  statement {
    sid = "OwnRolesAndPolicies"
    actions = [
      "iam:AttachRolePolicy", "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:CreateRole",
      "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:DeleteRole", "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListPolicyVersions",
      "iam:ListRolePolicies", "iam:PassRole", "iam:PutRolePolicy", "iam:TagPolicy", "iam:TagRole",
      "iam:UntagPolicy", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:role/${local.name_prefix}-${each.key}-*",
      "arn:${local.partition}:iam::${local.account_id}:policy/${local.name_prefix}-${each.key}-*",
    ]
  }
  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"]
  }
  statement {
    sid       = "StateWrite"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_arn}/envs/${each.key}/*"]
  }
}

resource "aws_iam_role" "deploy" {
  for_each = local.env_set

  name                 = "${local.name_prefix}-gha-${each.key}-deploy"
  assume_role_policy   = data.aws_iam_policy_document.trust["env-${each.key}"].json
  max_session_duration = 7200
}

resource "aws_iam_role_policy_attachment" "deploy_poweruser" {
  for_each = local.env_set

  role       = aws_iam_role.deploy[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/PowerUserAccess"
}

resource "aws_iam_role_policy" "deploy_state" {
  for_each = local.env_set

  name   = "state"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.state_access.json
}

resource "aws_iam_role_policy" "deploy_iam" {
  for_each = local.env_set

  name   = "own-iam"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.deploy_iam[each.key].json
}

# --- DAG publish (environment <env>): the env's DAG and plugin prefixes only ---------------------------------------------------
data "aws_iam_policy_document" "dag_publish" {
  for_each = local.env_set

  # s3://<org>-airflow-dags/<env>/ (DAGs) and plugins/<env>/ (plugins), nothing else; see dags.tf.
  statement {
    sid       = "ListEnvPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.dags_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.key}/", "${each.key}/*", "plugins/${each.key}/", "plugins/${each.key}/*"]
    }
  }
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.dags_arn}/${each.key}/*", "${local.dags_arn}/plugins/${each.key}/*"]
  }
  statement {
    sid       = "DagBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]
    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "kms:ResourceAliases"
      values   = ["alias/${var.org}-airflow-dags"] # aws_kms_alias.dags; a literal keeps the policy known at plan time
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
  # The publish -> visible SLI (docs/slo.md): the dag-sync workflow reports it, in its own namespace only.
  statement {
    sid       = "PublishToVisibleSli"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Airflow/DagSync"]
    }
  }
  # The verify job's Airflow login: the env's CI machine account secret only (modules/compute/auth.tf), decrypted
  # with the env's key through Secrets Manager for that secret only (docs/adr/0006-secrets-and-sso.md).
  statement {
    sid       = "CiAccountSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.name_prefix}-${each.key}-airflow-ci-??????"]
  }
  statement {
    sid       = "CiAccountSecretKey"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SecretARN"
      values   = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.name_prefix}-${each.key}-airflow-ci-??????"]
    }
  }
}

resource "aws_iam_role" "dag_publish" {
  for_each = local.env_set

  name                 = "${local.name_prefix}-gha-${each.key}-dag-publish"
  assume_role_policy   = data.aws_iam_policy_document.trust["env-${each.key}"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "dag_publish" {
  for_each = local.env_set

  name   = "dags"
  role   = aws_iam_role.dag_publish[each.key].id
  policy = data.aws_iam_policy_document.dag_publish[each.key].json
}
