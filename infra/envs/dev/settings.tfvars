# dev: one of everything, cheap, disposable (no deletion protection, buckets force-destroyed, secrets deleted at once).
# The values of infra/platform/variables.tf `env` and `settings` (typed there); `infra ... dev` passes this file.
env = "dev"

settings = {
  vpc_cidr                    = "10.40.0.0/16"
  az_count                    = 2
  kms_deletion_window_days    = 7
  secret_recovery_window_days = 0
  log_retention_days          = 30

  db_instance_class        = "db.t4g.medium"
  db_multi_az              = false
  db_backup_retention_days = 7
  db_deletion_protection   = false
  db_skip_final_snapshot   = true

  redis_node_type          = "cache.t4g.small"
  redis_num_cache_clusters = 1
  redis_automatic_failover = false

  force_destroy_buckets   = true
  alb_deletion_protection = false
  monthly_budget_usd      = 300

  worker_fargate_spot_weight = 0
  dagsync_max_age            = 300
  efs_one_zone               = true
  require_alarm_subscriber   = false
  worker_concurrency         = 8
  sizes = {
    "api-server"    = { cpu = 1024, memory = 2048, desired_count = 1 }
    "scheduler"     = { cpu = 1024, memory = 2048, desired_count = 1 }
    "dag-processor" = { cpu = 1024, memory = 2048, desired_count = 1 }
    "triggerer"     = { cpu = 512, memory = 1024, desired_count = 1 }
    "worker"        = { cpu = 2048, memory = 4096, desired_count = 0 }
    "scaler"        = { cpu = 256, memory = 512, desired_count = 1 }
    "healthcheck"   = { cpu = 256, memory = 512, desired_count = 1 }
  }
  scaler = {
    min_workers = 0
    max_workers = 4
    schedule    = "Mon-Fri 07:00-20:00"
    timezone    = "UTC"
    queues      = "default"
  }
}
