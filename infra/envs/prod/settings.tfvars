# prod: Multi-AZ database, Redis with automatic failover, 14-day backups, deletion protection everywhere,
# FARGATE_SPOT for part of the workers, a year of service logs.
# The values of infra/platform/variables.tf `env` and `settings` (typed there); `infra ... prod` passes this file.
env = "prod"

settings = {
  vpc_cidr                    = "10.50.0.0/16"
  az_count                    = 3
  kms_deletion_window_days    = 30
  secret_recovery_window_days = 30
  log_retention_days          = 365

  db_instance_class        = "db.r7g.large"
  db_multi_az              = true
  db_backup_retention_days = 14
  db_deletion_protection   = true
  db_skip_final_snapshot   = false

  redis_node_type          = "cache.r7g.large"
  redis_num_cache_clusters = 2
  redis_automatic_failover = true

  force_destroy_buckets   = false
  alb_deletion_protection = true
  monthly_budget_usd      = 3000

  worker_fargate_spot_weight = 3
  dagsync_max_age            = 300
  efs_one_zone               = false
  require_alarm_subscriber   = true
  worker_concurrency         = 8
  sizes = {
    "api-server"    = { cpu = 2048, memory = 4096, desired_count = 2 }
    "scheduler"     = { cpu = 2048, memory = 4096, desired_count = 2 }
    "dag-processor" = { cpu = 2048, memory = 4096, desired_count = 1 }
    "triggerer"     = { cpu = 1024, memory = 2048, desired_count = 2 }
    "worker"        = { cpu = 4096, memory = 8192, desired_count = 1 }
    "scaler"        = { cpu = 256, memory = 512, desired_count = 1 }
    "healthcheck"   = { cpu = 256, memory = 512, desired_count = 1 }
  }
  scaler = {
    min_workers = 1
    max_workers = 20
    schedule    = "Mon-Fri 06:00-22:00"
    timezone    = "UTC"
    queues      = "default"
  }
}
