terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
  }

  # The state holds the generated database password: keep it in an encrypted bucket, never in git.
  # terraform init -backend-config="bucket=..." -backend-config="key=netvalve/terraform.tfstate" \
  #   -backend-config="region=..." -backend-config="encrypt=true"
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Service = var.name, ManagedBy = "terraform" }, var.tags)
  }
}
