# Everything site-specific. Secrets are not variables: their values go into AWS Secrets Manager (README).

variable "region" {
  description = "AWS region of the deployment, e.g. eu-west-1."
  type        = string
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "netvalve-service"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- Network ---

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer (at least two availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks and the database; they need outbound internet (NAT) to reach NetValve, ECR and Secrets Manager."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Tasks and RDS need subnets in at least two availability zones."
  }
}

variable "allowed_ingress_cidrs" {
  description = "Who may reach the load balancer (the storefront's backend, Medusa, NetValve's webhook senders)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

# --- Service ---

variable "image" {
  description = "Container image built from the Dockerfile, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/netvalve-service:v0.2.0."
  type        = string
}

variable "desired_count" {
  description = "Tasks (replicas) of the service."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 2
    error_message = "Run at least two tasks: one task is a single point of failure during deployments and crashes."
  }
}

variable "task_cpu" {
  description = "Fargate CPU units per task (1024 = one vCPU)."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate memory per task in MiB."
  type        = number
  default     = 2048
}

variable "log_level" {
  description = "LOG_LEVEL of the service."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "CloudWatch retention of the service's and the migration's logs."
  type        = number
  default     = 90
}

variable "db_pool_size" {
  description = "DB_POOL_SIZE per task. Tasks x (pool + overflow + Medusa pool) must stay below the database's max_connections."
  type        = number
  default     = 20
}

variable "db_max_overflow" {
  description = "DB_MAX_OVERFLOW per task."
  type        = number
  default     = 5
}

# --- NetValve and Medusa ---

variable "netvalve_environment" {
  description = "NETVALVE_ENVIRONMENT: sandbox or production."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["sandbox", "production"], var.netvalve_environment)
    error_message = "sandbox or production."
  }
}

variable "netvalve_client_id" {
  description = "NETVALVE_CLIENT_ID agreed with NetValve."
  type        = string
}

variable "netvalve_mid_ids" {
  description = "MID per currency, e.g. { EUR = \"...\", USD = \"...\" } (becomes NETVALVE_MID_ID_<CURRENCY>)."
  type        = map(string)
  default     = {}
}

variable "netvalve_site_id" {
  description = "NETVALVE_SITE_ID for currencies without a MID; empty for none."
  type        = string
  default     = ""
}

variable "netvalve_capture_mode" {
  description = "NETVALVE_CAPTURE_MODE: sale or authorize."
  type        = string
  default     = "sale"

  validation {
    condition     = contains(["sale", "authorize"], var.netvalve_capture_mode)
    error_message = "sale or authorize."
  }
}

variable "netvalve_webhook_auth_header" {
  description = "NETVALVE_WEBHOOK_AUTH_HEADER: the custom header NetValve sends with each webhook (its values are a secret)."
  type        = string
}

variable "netvalve_webhook_allowed_ips" {
  description = "NETVALVE_WEBHOOK_ALLOWED_IPS: CIDRs NetValve's webhooks come from; empty allows any source."
  type        = list(string)
  default     = []
}

variable "netvalve_return_base_url" {
  description = "NETVALVE_RETURN_BASE_URL: the storefront's base URL for the hosted payment page's return links."
  type        = string
}

variable "netvalve_basic_auth_username" {
  description = "NETVALVE_BASIC_AUTH_USERNAME (backoffice user); empty for none. Its password is the NETVALVE_BASIC_AUTH_PASSWORD key of the app secret."
  type        = string
  default     = ""
}

variable "medusa_webhook_url" {
  description = "MEDUSA_WEBHOOK_URL: Medusa's hook that receives the forwarded payment actions."
  type        = string
}

variable "optional_secret_keys" {
  description = "Keys of the app secret besides the required ones, passed to the tasks as environment variables: MEDUSA_DATABASE_URL (Medusa's tables in another database), NETVALVE_BASIC_AUTH_PASSWORD."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for key in var.optional_secret_keys : contains(["MEDUSA_DATABASE_URL", "NETVALVE_BASIC_AUTH_PASSWORD"], key)])
    error_message = "Only MEDUSA_DATABASE_URL and NETVALVE_BASIC_AUTH_PASSWORD are optional secret keys."
  }
}

variable "extra_environment" {
  description = "Any other setting of app/core/config.py, by its environment variable name."
  type        = map(string)
  default     = {}
}

# --- Database ---

variable "db_engine_version" {
  description = "RDS PostgreSQL major version."
  type        = string
  default     = "15"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 200
}

variable "db_multi_az" {
  description = "A standby in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup retention."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off only to tear down a test deployment)."
  type        = bool
  default     = true
}

variable "db_username" {
  description = "Master user of the database."
  type        = string
  default     = "netvalve"
}

variable "db_name" {
  description = "Database the service's tables live in."
  type        = string
  default     = "netvalve"
}
