"""`infra`: OpenTofu (or Terraform) over infra/platform for one env, infra/envs/<env>, with a Rego policy gate."""
