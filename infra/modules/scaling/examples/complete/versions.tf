terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"

  default_tags {
    tags = { Project = "acme-airflow", Env = "example", ManagedBy = "opentofu" }
  }
}
