# OpenTofu/Terraform CLI config for this repo: providers come only from the offline mirror.
# Used by `infra` (services/infractl) and the tests via TF_CLI_CONFIG_FILE.
provider_installation {
  filesystem_mirror {
    path    = "/opt/tf-plugins"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
