module "security" {
  source = "../.."

  name_prefix                 = "acme-airflow-example"
  kms_deletion_window_days    = 7
  secret_recovery_window_days = 0
}

output "kms_key_arn" {
  value = module.security.kms_key_arn
}
