output "state_bucket" {
  description = "Name of the state bucket."
  value       = module.state_bucket.id
}

output "kms_key_arn" {
  description = "ARN of the CMK that encrypts the state."
  value       = module.state_bucket.kms_key_arn
}

output "lock_table" {
  description = "DynamoDB lock table name, or null when S3-native locking is used."
  value       = var.create_dynamodb_lock_table ? aws_dynamodb_table.lock[0].name : null
}

output "backend_config" {
  description = "Per env: the contents of infra/envs/<env>/backend.hcl (partial S3 backend configuration)."
  value = {
    for env in var.envs : env => join("\n", compact([
      "bucket       = \"${module.state_bucket.id}\"",
      "key          = \"envs/${env}/terraform.tfstate\"",
      "region       = \"${var.region}\"",
      "encrypt      = true",
      "kms_key_id   = \"${module.state_bucket.kms_key_arn}\"",
      var.create_dynamodb_lock_table ? "dynamodb_table = \"${aws_dynamodb_table.lock[0].name}\"" : "use_lockfile = true",
      "",
    ]))
  }
}

output "ecr_repositories" {
  description = "ECR repository URLs by image (airflow, dagsync, services)."
  value       = { for k, r in aws_ecr_repository.image : k => r.repository_url }
}

output "github_roles" {
  description = "Role ARNs for the repository/environment variables of the workflows (empty without github_repository)."
  value = local.github ? {
    AWS_PLAN_ROLE_ARN        = aws_iam_role.ci["plan"].arn
    AWS_ECR_PUSH_ROLE_ARN    = aws_iam_role.ci["images"].arn
    AWS_DEPLOY_ROLE_ARN      = { for e, r in aws_iam_role.deploy : e => r.arn }
    AWS_DAG_PUBLISH_ROLE_ARN = { for e, r in aws_iam_role.dag_publish : e => r.arn }
  } : null
}

output "dags_bucket" {
  description = "The org-wide DAG bucket: DAGs under `<env>/`, plugins under `plugins/<env>/` (env variable `dags_bucket_name`)."
  value       = module.dags_bucket.id
}

output "dags_kms_key_arn" {
  description = "CMK of the DAG bucket (env variable `dags_kms_key_arn`: the sidecars' kms:Decrypt)."
  value       = module.dags_bucket.kms_key_arn
}

output "cloudtrail_trail_arn" {
  description = "The trail that feeds the envs' NAT/IGW tripwire: the one created here, or `organization_trail_arn`."
  value       = local.create_trail ? aws_cloudtrail.this[0].arn : var.organization_trail_arn
}

output "cloudtrail_bucket" {
  description = "Bucket of the created trail's logs (null with `organization_trail_arn`)."
  value       = local.create_trail ? module.trail_bucket[0].id : null
}

output "access_analyzer_arn" {
  description = "The account's IAM Access Analyzer in `region` (null with `create_access_analyzer = false`)."
  value       = var.create_access_analyzer ? aws_accessanalyzer_analyzer.account[0].arn : null
}
