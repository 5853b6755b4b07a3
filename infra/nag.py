"""cdk-nag AwsSolutions suppressions, each scoped to its finding and justified.

Anything not listed here fails tests/infra (no unsuppressed AwsSolutions errors).
"""

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions

BASIC_EXECUTION = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
API_GATEWAY_LOGS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"

SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        applies_to=[BASIC_EXECUTION],
        reason="Only CDK's own helper functions (AwsCustomResource, the custom-resource provider framework, "
        "log retention) use the AWS managed basic execution policy: it grants CloudWatch Logs writes only.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        applies_to=[API_GATEWAY_LOGS],
        reason="API Gateway's account-wide logging role: the AWS documentation names this managed policy as "
        "holding exactly the permissions API Gateway needs to write execution and access logs.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        applies_to=["Resource::arn:*:logs:*:*:*"],
        reason="Chalice's per-function roles (.chalice/policy.json) write their own CloudWatch Logs groups, "
        "whose names Lambda derives at deploy time.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        applies_to=["Resource::*"],
        reason="VPC-attached Lambdas (and the MSK event source acting as the consumer's role) need ec2 "
        "network-interface and VPC describe actions, which have no resource-level permissions; "
        "CDK's log-retention helper sets retention on log groups it does not know in advance.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        applies_to=[{"regex": "/^Resource::<Events[A-Z0-9]+\\.Arn>\\/index\\/\\*$/"}],
        reason="Reads of the events table go through its local secondary index (by_type): the grant covers "
        "this table's indexes only.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        applies_to=[{"regex": "/^Resource::<TopicProvisioner[A-Za-z0-9]*\\.Arn>:\\*$/"}],
        reason="The provider framework invokes the topic provisioner function, any version of it.",
    ),
    NagPackSuppression(
        id="AwsSolutions-SMG4",
        reason="The producer token is rotated on demand (docs/producers.md, rotating the token): producers "
        "must receive the new value, which scheduled rotation cannot do; the app re-reads it every 5 minutes.",
    ),
    NagPackSuppression(
        id="AwsSolutions-APIG4",
        reason="The WebSocket API is public for subscribers, as the REST API's reads are. Producers are "
        "authenticated on $connect by the producer token (a wrong one refuses the upgrade), and publish "
        "is refused on a connection that did not show it.",
    ),
    NagPackSuppression(
        id="AwsSolutions-SQS3",
        reason="BroadcastFailures is itself the dead-letter destination of the broadcaster's stream event "
        "source; an alarm watches it.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        applies_to=[
            "Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebsocketAPI>/api/POST/@connections/*"
        ],
        reason="The broadcaster sends to any connection of this WebSocket API's stage; connection ids are "
        "made at connect time.",
    ),
    NagPackSuppression(
        id="AwsSolutions-CFR1",
        reason="The match centre is for fans wherever they are: no country is refused.",
    ),
    NagPackSuppression(
        id="AwsSolutions-CFR2",
        reason="The WAF web ACL is REGIONAL, on the API stage behind the distribution (infra/stack.py _cdn): a "
        "CLOUDFRONT-scope web ACL must live in us-east-1, and this stack deploys to the region its config names.",
    ),
    NagPackSuppression(
        id="AwsSolutions-CFR3",
        reason="Every request CloudFront sends on reaches the API stage, whose access log records it; the "
        "distribution's own request counts and hit ratio are CloudFront's standard metrics.",
    ),
    NagPackSuppression(
        id="AwsSolutions-CFR4",
        reason="The distribution uses CloudFront's default *.cloudfront.net certificate, whose minimum TLS "
        "version CloudFront sets; a custom domain with an ACM certificate can require TLSv1.2_2021.",
    ),
    NagPackSuppression(
        id="CdkNagValidationFailure",
        applies_to=["AwsSolutions-EC23"],
        reason="The endpoint security group admits only the app's two security groups (no CIDR ingress), "
        "which EC23 cannot resolve.",
    ),
]


def suppress_justified(stack: Stack) -> None:
    NagSuppressions.add_stack_suppressions(stack, SUPPRESSIONS, apply_to_nested_stacks=True)
