module "compute" {
  source = "../.."

  name_prefix             = "acme-airflow-example"
  env                     = "example"
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  tasks_security_group_id = "sg-0123456789abcdef0"
  images = {
    airflow  = "111122223333.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-airflow:1.0.0"
    dagsync  = "111122223333.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-dagsync:1.0.0"
    services = "111122223333.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-services:1.0.0"
  }
  ecr_repository_names = ["acme-airflow-airflow", "acme-airflow-dagsync", "acme-airflow-services"]
  kms_key_arn          = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
  kms_alias_name       = "alias/acme-airflow-example"

  app_secret_name        = "acme-airflow-example-airflow-app"
  app_secret_arn         = "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-airflow-example-airflow-app-AbCdEf"
  redis_auth_secret_name = "acme-airflow-example-redis-auth"
  redis_auth_secret_arn  = "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-airflow-example-redis-auth-AbCdEf"
  redis_url_secret_name  = "acme-airflow-example-redis-url"
  redis_url_secret_arn   = "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-airflow-example-redis-url-AbCdEf"
  db_instance_identifier = "acme-airflow-example-db"
  db_master_secret_arn   = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-00000000-AbCdEf"
  db_address             = "acme-airflow-example-db.abc.us-east-1.rds.amazonaws.com"
  db_name                = "airflow"
  redis_host             = "master.acme-airflow-example-redis.abc.use1.cache.amazonaws.com"

  dags_bucket_name = "acme-airflow-dags"
  logs_bucket_name = "acme-airflow-example-logs"
  dags_storage     = "ephemeral"

  api_target_group_arn         = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/acme-airflow-example-api/0123456789abcdef"
  healthcheck_target_group_arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/acme-airflow-example-hc/0123456789abcdef"
  api_base_url                 = "https://airflow.example.internal"
}

output "service_names" {
  value = module.compute.service_names
}
