# "aas" mode against a minimal worker service (the platform default is "scaler" mode: see docs/adr/0002-scaling.md).
resource "aws_vpc" "example" {
  #checkov:skip=CKV2_AWS_11: throwaway example VPC for the scaling module; the platform VPC (modules/network) has flow logs
  #checkov:skip=CKV2_AWS_12: throwaway example VPC for the scaling module; the platform VPC locks its default security group
  cidr_block = "10.99.0.0/24"
}

resource "aws_subnet" "example" {
  vpc_id     = aws_vpc.example.id
  cidr_block = "10.99.0.0/25"
}

resource "aws_ecs_cluster" "example" {
  name = "acme-airflow-example-cluster"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "acme-airflow-example-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  container_definitions = jsonencode([{
    name                   = "worker"
    image                  = "111122223333.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-airflow:1.0.0"
    essential              = true
    readonlyRootFilesystem = true
    cpu                    = 256
    memory                 = 512
    healthCheck            = { command = ["CMD-SHELL", "true"], startPeriod = 120, interval = 30, timeout = 10, retries = 5 }
  }])
}

resource "aws_ecs_service" "worker" {
  name            = "acme-airflow-example-worker"
  cluster         = aws_ecs_cluster.example.arn
  task_definition = aws_ecs_task_definition.worker.arn
  desired_count   = 0
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = [aws_subnet.example.id]
    assign_public_ip = false
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
}


module "scaling" {
  source = "../.."

  name_prefix  = "acme-airflow-example"
  mode         = "aas"
  env          = "example"
  cluster_name = aws_ecs_cluster.example.name
  service_name = aws_ecs_service.worker.name
  max_capacity = 4
}

output "scheduled_action_names" {
  value = module.scaling.scheduled_action_names
}
