module "edge" {
  source = "../.."

  name_prefix             = "acme-airflow-example"
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_cidrs           = ["10.40.0.0/16"]
  tasks_security_group_id = "sg-0123456789abcdef0"
  certificate_arn         = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
  deletion_protection     = false

  oidc = {
    issuer                 = "https://sso.example.com"
    authorization_endpoint = "https://sso.example.com/authorize"
    token_endpoint         = "https://sso.example.com/token"
    user_info_endpoint     = "https://sso.example.com/userinfo"
    client_id              = "airflow"
    client_secret_arn      = "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-airflow-example-oidc-AbCdEf"
    # the IdP over private routing (transit gateway / VPN): the ALB calls its token and user-info endpoints
    idp_egress_cidrs = ["10.200.0.0/24"]
  }
}

output "alb_dns_name" {
  value = module.edge.alb_dns_name
}
