module "security" {
  source      = "../../../security"
  name_prefix = "acme-airflow-example"
}

module "data" {
  source = "../.."

  name_prefix               = "acme-airflow-example"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  client_security_group_ids = { tasks = "sg-0123456789abcdef0" }
  kms_key_arn               = module.security.kms_key_arn
  redis_auth_token          = module.security.redis_auth_token
  db_deletion_protection    = false
  db_skip_final_snapshot    = true
}

output "db_address" {
  value = module.data.db_address
}
