module "observability" {
  source = "../.."

  name_prefix                 = "acme-airflow-example"
  env                         = "example"
  kms_key_arn                 = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
  cluster_name                = "acme-airflow-example-cluster"
  service_names               = { scheduler = "acme-airflow-example-scheduler", worker = "acme-airflow-example-worker" }
  worker_service_name         = "acme-airflow-example-worker"
  airflow_log_group_names     = ["/ecs/acme-airflow-example/scheduler"]
  db_instance_identifier      = "acme-airflow-example-db"
  redis_replication_group_id  = "acme-airflow-example-redis"
  redis_num_cache_clusters    = 1
  alb_arn_suffix              = "app/acme-airflow-example-alb/0123456789abcdef"
  api_target_group_arn_suffix = "targetgroup/acme-airflow-example-api/0123456789abcdef"
  vpc_id                      = "vpc-0123456789abcdef0"
  interface_endpoint_ids      = { logs = "vpce-0123456789abcdef0" }
  budget_cost_filter_tag      = "Env$example"
}

output "alarm_topic_arn" {
  value = module.observability.alarm_topic_arn
}

output "slo_spec" {
  value = module.observability.slo_spec
}

output "alarm_topic_warning" {
  value = module.observability.alarm_topic_warning
}
