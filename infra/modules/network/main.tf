# NAT-free VPC: private subnets only, AWS APIs through VPC endpoints. See docs/adr/0003-nat-free-vpc-endpoints.md.
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394: az_count takes the first N available AZs of the region; zone names map to different zone IDs per account
  state = "available"
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # Endpoint policies: only principals of this account, only this service's actions.
  # Services whose endpoints take no policy (ecs, application-autoscaling) keep the AWS default.
  policy_prefix = {
    "ecr.api"           = "ecr"
    "ecr.dkr"           = "ecr"
    "logs"              = "logs"
    "events"            = "events"
    "sts"               = "sts"
    "secretsmanager"    = "secretsmanager"
    "ssm"               = "ssm"
    "elasticfilesystem" = "elasticfilesystem"
    "kms"               = "kms"
    "monitoring"        = "cloudwatch"
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # interface endpoints with private DNS need both

  tags = merge(var.tags, { Name = "${var.name_prefix}-vpc" })
}

# Lock down the default SG: nothing uses it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-default-sg" })
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  availability_zone = local.azs[count.index]

  tags = merge(var.tags, { Name = "${var.name_prefix}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-private" })
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# --- VPC endpoints ------------------------------------------------------------------------------------------
resource "aws_security_group" "endpoints" {
  name        = "${var.name_prefix}-vpce"
  description = "Interface VPC endpoints: HTTPS from inside the VPC only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-vpce" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
}

data "aws_iam_policy_document" "s3_endpoint" {
  statement {
    sid       = "ProjectBuckets"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"]
    resources = flatten([for b in var.s3_bucket_names : ["arn:${local.partition}:s3:::${b}", "arn:${local.partition}:s3:::${b}/*"]])

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }

  # The org-wide DAG bucket: read-only, this env's prefix only (docs/adr/0009-dags-storage-efs-vs-ephemeral.md).
  dynamic "statement" {
    for_each = length(var.s3_read_prefixes) > 0 ? [1] : []
    content {
      sid       = "ReadPrefixObjects"
      actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"]
      resources = [for b, p in var.s3_read_prefixes : "arn:${local.partition}:s3:::${b}/${p}*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalAccount"
        values   = [local.account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = var.s3_read_prefixes
    content {
      sid       = "ListPrefix${substr(sha1(statement.key), 0, 8)}"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${statement.key}"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalAccount"
        values   = [local.account_id]
      }

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${statement.value}*"]
      }
    }
  }

  # ECR keeps image layers in an AWS-owned bucket; image pulls go through this endpoint.
  statement {
    sid       = "EcrLayers"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  policy            = data.aws_iam_policy_document.s3_endpoint.json

  tags = merge(var.tags, { Name = "${var.name_prefix}-vpce-s3" })
}

data "aws_iam_policy_document" "interface_endpoint" {
  for_each = { for s in var.interface_endpoints : s => local.policy_prefix[s] if contains(keys(local.policy_prefix), s) }

  statement {
    sid       = "AccountOnly"
    actions   = ["${each.value}:*"]
    resources = ["*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  policy              = try(data.aws_iam_policy_document.interface_endpoint[each.value].json, null)

  tags = merge(var.tags, { Name = "${var.name_prefix}-vpce-${replace(each.value, ".", "-")}" })
}

# --- Security group shared by every ECS task (data stores allow ingress from it) -------------------------------
resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5: attached to every ECS service by the compute module (outside this module's graph)
  name        = "${var.name_prefix}-tasks"
  description = "ECS tasks of the Airflow platform"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-tasks" })
}

resource "aws_vpc_security_group_egress_rule" "tasks_vpc" {
  security_group_id = aws_security_group.tasks.id
  description       = "Inside the VPC only: endpoints, RDS, Redis, EFS, ALB, peers"
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "tasks_s3" {
  security_group_id = aws_security_group.tasks.id
  description       = "S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_self" {
  for_each = { worker_logs = 8793, api = 8080, healthcheck = 8000, dagsync_metrics = 9101, scaler = 9102 }

  security_group_id            = aws_security_group.tasks.id
  description                  = "Between platform tasks: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.tasks.id
}

# --- Flow logs ----------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow" {
  name              = "/vpc/${var.name_prefix}/flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/vpc/${var.name_prefix}/flow-logs:*"]
  }
}

resource "aws_iam_role" "flow" {
  name               = "${var.name_prefix}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "flow" {
  name   = "flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
  tags            = merge(var.tags, { Name = "${var.name_prefix}-flow" })
}

# --- public_demo: the only way to get an internet or NAT gateway -----------------------------------------------
resource "aws_internet_gateway" "demo" {
  count  = var.public_demo ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-igw-demo" })
}

resource "aws_subnet" "public_demo" {
  count = var.public_demo ? var.az_count : 0

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 8 + count.index)
  availability_zone = local.azs[count.index]

  tags = merge(var.tags, { Name = "${var.name_prefix}-public-demo-${local.azs[count.index]}", Tier = "public-demo" })
}

resource "aws_route_table" "public_demo" {
  count  = var.public_demo ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-public-demo" })
}

resource "aws_route" "public_demo_igw" {
  count                  = var.public_demo ? 1 : 0
  route_table_id         = aws_route_table.public_demo[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.demo[0].id
}

resource "aws_route_table_association" "public_demo" {
  count          = var.public_demo ? var.az_count : 0
  subnet_id      = aws_subnet.public_demo[count.index].id
  route_table_id = aws_route_table.public_demo[0].id
}

resource "aws_eip" "nat_demo" {
  count  = var.public_demo ? 1 : 0
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name_prefix}-nat-demo" })
}

resource "aws_nat_gateway" "demo" {
  count         = var.public_demo ? 1 : 0
  allocation_id = aws_eip.nat_demo[0].id
  subnet_id     = aws_subnet.public_demo[0].id
  tags          = merge(var.tags, { Name = "${var.name_prefix}-nat-demo" })
}

resource "aws_route" "private_nat_demo" {
  count                  = var.public_demo ? 1 : 0
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.demo[0].id
}
