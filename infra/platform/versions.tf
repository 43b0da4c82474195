terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }

  # Partial configuration: `infra init <env>` passes backend.hcl (bucket, key, region, use_lockfile, kms_key_id).
  backend "s3" {}
}
