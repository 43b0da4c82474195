module "network" {
  source = "../.."

  name_prefix     = "acme-airflow-example"
  s3_bucket_names = ["acme-airflow-example-dags", "acme-airflow-example-logs"]
  kms_key_arn     = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
}

output "private_subnet_ids" {
  value = module.network.private_subnet_ids
}
