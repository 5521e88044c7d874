output "load_balancer_dns_name" {
  description = "Point the service's DNS name (the certificate's) at this."
  value       = aws_lb.this.dns_name
}

output "app_secret_arn" {
  description = "Put the app secret's JSON value here (README)."
  value       = aws_secretsmanager_secret.app.arn
}

output "database_address" {
  description = "RDS endpoint of the service's database."
  value       = aws_db_instance.this.address
}

output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "service_name" {
  value = aws_ecs_service.app.name
}

output "migrate_command" {
  description = "Runs the migrations once (before each service update); wait for the task to stop with exit code 0."
  value = join(" ", [
    "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.this.name} --launch-type FARGATE",
    "--task-definition ${aws_ecs_task_definition.this["migrate"].arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.private_subnet_ids)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'",
  ])
}
