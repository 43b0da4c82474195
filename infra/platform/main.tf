# The platform, wired from the modules: the one root module of every env. dev, prod and local (the emulator's,
# `make local`, docs/adr/0008) differ only in infra/envs/<env>/settings.tfvars (variables `env` and `settings`);
# `infra` (services/infractl) passes that file, the env's backend.hcl and its own data dir.
data "aws_caller_identity" "current" {}

locals {
  name_prefix = "${var.org}-airflow-${var.env}"
  tags = merge(var.extra_tags, {
    Project   = "${var.org}-airflow"
    Env       = var.env
    Org       = var.org
    ManagedBy = "opentofu"
  })

  registry   = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com"
  repo_names = { for k in ["airflow", "dagsync", "services"] : k => "${var.org}-airflow-${k}" }
  images     = { for k, repo in local.repo_names : k => coalesce(lookup(var.images, k, null), "${local.registry}/${repo}:${var.image_tag}") }

  # The org-wide DAG bucket (infra/bootstrap/dags.tf): this env's DAGs under <env>/, plugins under plugins/<env>/.
  # Referenced by name only, so nothing here needs it to exist at apply time (docs/adr/0009).
  dags_bucket_name = coalesce(var.dags_bucket_name, "${var.org}-airflow-dags")
  dags_prefix      = "${var.env}/"
}

module "security" {
  source = "../modules/security"

  name_prefix                 = local.name_prefix
  kms_deletion_window_days    = var.settings.kms_deletion_window_days
  secret_recovery_window_days = var.settings.secret_recovery_window_days
}

module "network" {
  source = "../modules/network"

  name_prefix             = local.name_prefix
  vpc_cidr                = var.settings.vpc_cidr
  az_count                = var.settings.az_count
  public_demo             = var.public_demo
  s3_bucket_names         = values(module.data.bucket_names)
  s3_read_prefixes        = { (local.dags_bucket_name) = local.dags_prefix }
  kms_key_arn             = module.security.kms_key_arn
  flow_log_retention_days = var.settings.log_retention_days
}

module "data" {
  source = "../modules/data"

  name_prefix               = local.name_prefix
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = { tasks = module.network.tasks_security_group_id }
  kms_key_arn               = module.security.kms_key_arn
  bucket_suffix             = var.bucket_suffix

  db_instance_class        = var.settings.db_instance_class
  db_multi_az              = var.settings.db_multi_az
  db_backup_retention_days = var.settings.db_backup_retention_days
  db_deletion_protection   = var.settings.db_deletion_protection
  db_skip_final_snapshot   = var.settings.db_skip_final_snapshot

  redis_node_type          = var.settings.redis_node_type
  redis_num_cache_clusters = var.settings.redis_num_cache_clusters
  redis_automatic_failover = var.settings.redis_automatic_failover
  redis_auth_token         = module.security.redis_auth_token

  force_destroy_buckets       = var.settings.force_destroy_buckets
  secret_recovery_window_days = var.settings.secret_recovery_window_days
  create_efs                  = var.dags_storage == "efs"
  efs_one_zone                = var.settings.efs_one_zone
}

module "edge" {
  source = "../modules/edge"

  name_prefix             = local.name_prefix
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  allowed_cidrs           = concat([module.network.vpc_cidr], var.allowed_cidrs)
  tasks_security_group_id = module.network.tasks_security_group_id
  certificate_arn         = var.certificate_arn
  deletion_protection     = var.settings.alb_deletion_protection
  oidc                    = var.oidc
}

module "compute" {
  source = "../modules/compute"

  name_prefix             = local.name_prefix
  env                     = var.env
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  tasks_security_group_id = module.network.tasks_security_group_id
  images                  = local.images
  ecr_repository_names    = values(local.repo_names)
  kms_key_arn             = module.security.kms_key_arn
  kms_alias_name          = module.security.kms_alias_name
  # The FAB users' secrets (auth.tf) follow the env's recovery window, like the others (dev: 0, so a re-apply works).
  secret_recovery_window_days = var.settings.secret_recovery_window_days

  app_secret_name        = module.security.app_secret_name
  app_secret_arn         = module.security.app_secret_arn
  redis_auth_secret_name = module.security.redis_auth_secret_name
  redis_auth_secret_arn  = module.security.redis_auth_secret_arn
  redis_url_secret_name  = module.data.redis_url_secret_name
  redis_url_secret_arn   = module.data.redis_url_secret_arn
  db_instance_identifier = module.data.db_instance_identifier
  db_master_secret_arn   = module.data.db_master_secret_arn
  db_address             = module.data.db_address
  db_port                = module.data.db_port
  db_name                = module.data.db_name
  redis_host             = module.data.redis_primary_endpoint
  redis_port             = module.data.redis_port

  dags_bucket_name     = local.dags_bucket_name
  dags_prefix          = local.dags_prefix
  dags_kms_key_arn     = var.dags_kms_key_arn
  dags_kms_alias_name  = "alias/${var.org}-airflow-dags"
  logs_bucket_name     = module.data.bucket_names["logs"]
  dags_storage         = var.dags_storage
  efs_file_system_id   = module.data.efs_file_system_id
  efs_access_point_ids = module.data.efs_access_point_ids
  efs_subnet_ids       = module.data.efs_subnet_ids

  api_target_group_arn         = module.edge.api_target_group_arn
  healthcheck_target_group_arn = module.edge.healthcheck_target_group_arn
  healthcheck_root_path        = module.edge.healthcheck_root_path
  api_base_url                 = coalesce(var.api_base_url, "https://${module.edge.alb_dns_name}")
  dagsync_max_age              = var.settings.dagsync_max_age
  healthcheck_slo_spec         = module.observability.slo_spec
  extra_environment            = var.extra_environment

  log_retention_days         = var.settings.log_retention_days
  sizes                      = var.settings.sizes
  worker_concurrency         = var.settings.worker_concurrency
  worker_stop_timeout        = var.worker_stop_timeout
  worker_fargate_spot_weight = var.settings.worker_fargate_spot_weight
  scaling_mode               = var.scaling_mode
  scaler                     = var.settings.scaler
}

module "scaling" {
  source = "../modules/scaling"

  name_prefix      = local.name_prefix
  mode             = var.scaling_mode
  env              = var.env
  cluster_name     = module.compute.cluster_name
  service_name     = module.compute.worker_service_name
  scaler_namespace = module.compute.scaler_namespace
  min_capacity     = var.settings.scaler.min_workers
  max_capacity     = var.settings.scaler.max_workers
}

module "observability" {
  source = "../modules/observability"

  name_prefix                    = local.name_prefix
  env                            = var.env
  kms_key_arn                    = module.security.kms_key_arn
  alarm_emails                   = var.alarm_emails
  cluster_name                   = module.compute.cluster_name
  service_names                  = module.compute.service_names
  worker_service_name            = "${local.name_prefix}-worker" # by name: module.compute's output would cycle through slo_spec
  airflow_log_group_names        = module.compute.airflow_log_group_names
  scaler_namespace               = module.compute.scaler_namespace
  db_instance_identifier         = module.data.db_instance_identifier
  redis_replication_group_id     = module.data.redis_replication_group_id
  redis_num_cache_clusters       = var.settings.redis_num_cache_clusters
  alb_arn_suffix                 = module.edge.alb_arn_suffix
  api_target_group_arn_suffix    = module.edge.api_target_group_arn_suffix
  vpc_id                         = module.network.vpc_id
  interface_endpoint_ids         = module.network.interface_endpoint_ids
  monthly_budget_usd             = var.settings.monthly_budget_usd
  budget_cost_filter_tag         = join("$", ["Env", var.env]) # "Env$dev": key$value (a literal "$${" would escape)
  alarm_endpoints                = var.alarm_endpoints
  require_alarm_subscriber       = var.settings.require_alarm_subscriber
  dag_freshness_from_healthcheck = var.dags_storage == "efs"
  scaler_queues                  = split(",", var.settings.scaler.queues)
}
