output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per AZ."
  value       = aws_subnet.private[*].id
}

output "private_route_table_id" {
  description = "ID of the private route table (the S3 gateway endpoint is attached to it)."
  value       = aws_route_table.private.id
}

output "tasks_security_group_id" {
  description = "Security group of every ECS task; data stores and the ALB reference it."
  value       = aws_security_group.tasks.id
}

output "endpoints_security_group_id" {
  description = "Security group of the interface endpoints."
  value       = aws_security_group.endpoints.id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "interface_endpoint_ids" {
  description = "Interface endpoint IDs by short service name."
  value       = { for k, v in aws_vpc_endpoint.interface : k => v.id }
}

output "interface_endpoint_services" {
  description = "Short names of the services that have an interface endpoint."
  value       = sort(var.interface_endpoints)
}

output "public_demo_subnet_ids" {
  description = "Public demo subnets (empty unless public_demo)."
  value       = aws_subnet.public_demo[*].id
}
