# Copy to <site>.tfvars (ignored by git) and fill in.
region                       = "eu-west-1"
vpc_id                       = "vpc-0123456789abcdef0"
public_subnet_ids            = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
private_subnet_ids           = ["subnet-0cccccccccccccccc", "subnet-0dddddddddddddddd"]
certificate_arn              = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
image                        = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/netvalve-service:v0.2.0"
netvalve_client_id           = "your-client-id"
netvalve_mid_ids             = { EUR = "00000000-0000-0000-0000-000000000001" }
netvalve_webhook_auth_header = "x-netvalve-webhook"
netvalve_return_base_url     = "https://shop.example.com"
medusa_webhook_url           = "https://medusa.example.com/hooks/payment/netvalve_netvalve"
