"""`infra`: drive OpenTofu (or Terraform) for infra/envs/<env> with the repo's CLI config and a Rego policy gate."""
