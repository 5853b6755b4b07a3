"""The product on AWS: API Gateway and Lambda (the Chalice app), Amazon MSK, DynamoDB.

Everything the app needs is wired here, one method per part: the VPC its
Lambdas and the MSK event source share, the cluster and its topics, the tables
(keys from chalicelib.layout), the app and its permissions, the event source
mappings that trigger the consumer (MSK) and the broadcaster (the table's
stream), the REST and WebSocket APIs' settings, alarms and a dashboard. Sizes
and region come from infra/config/<env>.json.
"""

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr
from constructs import Construct

from chalicelib import broadcast, caching, layout, security
from chalicelib.observability import NAMESPACE, SERVICE
from infra.config import StackConfig
from infra.package import LambdaApp

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "football-match-data"
API_STAGE = "api"
MSK_IAM_PORT = 9098
OUTSIDE_VPC_ROLES = {"BroadcasterRole", "SenderRole"}  # see _live
# What a function in a VPC needs to create, find and delete its network interfaces (ec2 has no
# resource-level permissions for these); the actions of AWSLambdaVPCAccessExecutionRole.
VPC_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


_Alarm = tuple[cloudwatch.IMetric, float, str]  # an alarm's metric, threshold and what its firing means


def _per_minute(namespace: str, name: str, dimensions: dict[str, str], statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        statistic=statistic,
        dimensions_map=dimensions,
        period=Duration.minutes(1),
    )


def _lambda_metric(name: str, function_name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    return _per_minute("AWS/Lambda", name, {"FunctionName": function_name}, statistic)


def _app_metric(name: str) -> cloudwatch.Metric:
    """One of the app's own metrics (chalicelib.observability's namespace)."""
    return _per_minute(NAMESPACE, name, {"service": SERVICE})


def _rate_rule(name: str, priority: int, limit: int, forwarded: bool) -> wafv2.CfnWebACL.RuleProperty:
    """A WAF rule blocking an address past ``limit`` requests in 5 minutes (``forwarded``: X-Forwarded-For's)."""
    statement = wafv2.CfnWebACL.RateBasedStatementProperty(
        limit=limit,
        aggregate_key_type="FORWARDED_IP" if forwarded else "IP",
        forwarded_ip_config=wafv2.CfnWebACL.ForwardedIPConfigurationProperty(
            header_name="X-Forwarded-For", fallback_behavior="MATCH"
        )
        if forwarded
        else None,
    )
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(rate_based_statement=statement),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        ),
    )


class FootballStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.topic, self.dead_letter_topic = config.topic["name"], f"{config.topic['name']}-dlq"
        self._network()
        self._cluster()
        self._table()
        self._live_storage()
        self._app()
        self._grant_app()
        self._topics()
        self._event_source()
        self._live()
        self._api()
        self._cdn()
        self._observe()
        self._outputs()

    def _network(self) -> None:
        """Private subnets; VPC endpoints let the Lambdas and the MSK event source reach AWS APIs."""
        nat = self.config.vpc["nat_gateways"]
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=self.config.vpc["max_azs"],
            nat_gateways=nat,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(
                    name="private",
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED if nat == 0 else ec2.SubnetType.PRIVATE_WITH_EGRESS,
                ),
            ],
        )
        self.vpc.add_flow_log("FlowLog")
        private = ec2.SubnetSelection(subnet_group_name="private")
        self.lambda_sg = ec2.SecurityGroup(
            self,
            "LambdaSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="App Lambdas: out to MSK and the VPC endpoints",
        )
        self.msk_sg = ec2.SecurityGroup(
            self,
            "MskSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="MSK brokers and the MSK event source ENIs",
        )
        endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Interface endpoints: HTTPS from the Lambdas and the event source",
        )
        self.msk_sg.add_ingress_rule(self.msk_sg, ec2.Port.tcp(MSK_IAM_PORT), "event source ENIs to the brokers")
        self.msk_sg.add_ingress_rule(self.lambda_sg, ec2.Port.tcp(MSK_IAM_PORT), "the app's Lambdas to the brokers")
        self.msk_sg.add_egress_rule(self.msk_sg, ec2.Port.tcp(MSK_IAM_PORT), "event source ENIs to the brokers")
        self.msk_sg.add_egress_rule(endpoint_sg, ec2.Port.tcp(443), "event source to Lambda and STS endpoints")
        self.lambda_sg.add_egress_rule(self.msk_sg, ec2.Port.tcp(MSK_IAM_PORT), "to the brokers")
        # Private subnets have no route out: HTTPS reaches only the VPC endpoints (DynamoDB's is a gateway,
        # addressed by a prefix list, hence no narrower peer than this).
        self.lambda_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs through the VPC endpoints")
        endpoint_sg.add_ingress_rule(self.msk_sg, ec2.Port.tcp(443), "from the event source")
        endpoint_sg.add_ingress_rule(self.lambda_sg, ec2.Port.tcp(443), "from the app's Lambdas")
        self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[private]
        )
        for name, service in (
            ("Lambda", ec2.InterfaceVpcEndpointAwsService.LAMBDA_),
            ("Sts", ec2.InterfaceVpcEndpointAwsService.STS),
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
        ):
            self.vpc.add_interface_endpoint(
                f"{name}Endpoint",
                service=service,
                subnets=private,
                security_groups=[endpoint_sg],
                private_dns_enabled=True,
            )
        self.private_subnet_ids = self.vpc.select_subnets(subnet_group_name="private").subnet_ids

    def _cluster(self) -> None:
        """Amazon MSK with IAM auth, serverless or provisioned; the app needs its bootstrap brokers."""
        config = self.config
        cluster_name = f"{APP_NAME}-{config.stage}"
        iam_auth = {"sasl": {"iam": {"enabled": True}}}
        if config.provisioned_msk:
            self.cluster: msk.CfnCluster | msk.CfnServerlessCluster = msk.CfnCluster(
                self,
                "Cluster",
                cluster_name=cluster_name,
                kafka_version=config.msk["kafka_version"],
                number_of_broker_nodes=config.msk["brokers"],
                client_authentication=iam_auth,
                broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                    instance_type=config.msk["instance_type"],
                    client_subnets=self.private_subnet_ids,
                    security_groups=[self.msk_sg.security_group_id],
                    storage_info={"ebsStorageInfo": {"volumeSize": config.msk["volume_gb"]}},
                ),
                encryption_info={"encryptionInTransit": {"clientBroker": "TLS", "inCluster": True}},
                enhanced_monitoring="PER_TOPIC_PER_PARTITION",
                logging_info={
                    "brokerLogs": {
                        "cloudWatchLogs": {
                            "enabled": True,
                            "logGroup": logs.LogGroup(
                                self, "BrokerLogs", retention=logs.RetentionDays.ONE_MONTH
                            ).log_group_name,
                        }
                    }
                },
            )
        else:
            self.cluster = msk.CfnServerlessCluster(
                self,
                "Cluster",
                cluster_name=cluster_name,
                client_authentication=iam_auth,
                vpc_configs=[
                    msk.CfnServerlessCluster.VpcConfigProperty(
                        subnet_ids=self.private_subnet_ids, security_groups=[self.msk_sg.security_group_id]
                    )
                ],
            )
        self.cluster_arn = self.cluster.attr_arn
        brokers = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_update=cr.AwsSdkCall(
                service="Kafka",
                action="getBootstrapBrokers",
                parameters={"ClusterArn": self.cluster_arn},
                physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
                output_paths=["BootstrapBrokerStringSaslIam"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            install_latest_aws_sdk=False,
        )
        self.bootstrap_servers = brokers.get_response_field("BootstrapBrokerStringSaslIam")

    def _kafka_arn(self, kind: str, name: str) -> str:
        """topic/group ARNs of this cluster: arn:...:cluster/NAME/UUID -> arn:...:KIND/NAME/UUID/name."""
        parts = Fn.split("/", self.cluster_arn)
        return Fn.join(
            "",
            [
                f"arn:{self.partition}:kafka:{self.region}:{self.account}:{kind}/",
                Fn.select(1, parts),
                "/",
                Fn.select(2, parts),
                "/",
                name,
            ],
        )

    def _table(self) -> None:
        """The events table: keys and indexes from chalicelib.layout, so the app and the stack agree."""
        production = self.config.table["deletion_protection"]
        self.table = dynamodb.Table(
            self,
            "Events",
            partition_key=dynamodb.Attribute(name=layout.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=layout.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=production,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
            stream=dynamodb.StreamViewType(layout.STREAM_VIEW),
        )
        definition = layout.table_definition("unused")

        def key(index: dict[str, Any], kind: str) -> dynamodb.Attribute:
            (name,) = (k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == kind)
            return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)

        for index in definition["LocalSecondaryIndexes"]:
            self.table.add_local_secondary_index(index_name=index["IndexName"], sort_key=key(index, "RANGE"))
        for index in definition["GlobalSecondaryIndexes"]:
            projection = index["Projection"]
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=key(index, "HASH"),
                sort_key=key(index, "RANGE"),
                projection_type=dynamodb.ProjectionType(projection["ProjectionType"]),
                non_key_attributes=projection.get("NonKeyAttributes"),
            )

    def _live_storage(self) -> None:
        """Who follows which match (TTL: connections last 2 hours at most), and where the broadcaster's
        event source puts records it gave up on."""
        string = dynamodb.AttributeType.STRING
        self.subscriptions = dynamodb.Table(
            self,
            "Subscriptions",
            partition_key=dynamodb.Attribute(name=layout.SUBSCRIPTION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=layout.SUBSCRIPTION_SORT_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=layout.EXPIRES_AT,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,  # connections do not outlive a deployment worth keeping
        )
        self.broadcast_failures = sqs.Queue(
            self,
            "BroadcastFailures",
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14),
        )
        # A big match's shards of followers, for the sender function: FIFO, grouped by match and shard, so a
        # shard's jobs are sent in order while the shards go concurrently (chalicelib.fanout)
        self.fanout_dead_letters = sqs.Queue(
            self,
            "FanoutDeadLetters",
            fifo=True,
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14),
        )
        self.fanout_queue = sqs.Queue(
            self,
            "Fanout",
            fifo=True,
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,  # high throughput mode
            visibility_timeout=Duration.seconds(6 * self.config.functions["timeout_seconds"]),
            retention_period=Duration.hours(1),  # a push older than that is stale: clients use the feed
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.fanout_dead_letters, max_receive_count=5),
        )

    def _app(self) -> None:
        """The Chalice app (REST and WebSocket APIs, authorizer, consumer, broadcaster, topic provisioner),
        configured through its stage, and the token producers send to POST /events."""
        self.ingest_secret = secretsmanager.Secret(
            self,
            "IngestToken",
            description="Bearer token producers send to POST /events",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=48),
        )
        self.chalice = LambdaApp(
            self,
            "App",
            source_dir=str(PROJECT_DIR),
            stage_config={
                "api_gateway_stage": API_STAGE,
                "autogen_policy": False,
                "iam_policy_file": "policy.json",
                "lambda_memory_size": self.config.functions["memory_mb"],
                "lambda_timeout": self.config.functions["timeout_seconds"],
                "subnet_ids": self.private_subnet_ids,
                "security_group_ids": [self.lambda_sg.security_group_id],
                "environment_variables": {
                    "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                    "KAFKA_AUTH": "msk_iam",
                    "EVENTS_TOPIC": self.topic,
                    "EVENTS_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                    "EVENTS_TABLE": self.table.table_name,
                    "SUBSCRIPTIONS_TABLE": self.subscriptions.table_name,
                    "WEBSOCKET_STAGE": API_STAGE,
                    "INGEST_TOKEN_SECRET_ARN": self.ingest_secret.secret_arn,
                    "POWERTOOLS_SERVICE_NAME": SERVICE,
                    "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
                },
            },
        )
        self.consumer = self.chalice.get_function("Consumer")

    def _grant_app(self) -> None:
        """Least privilege per function, written into the function's own role.

        Inline in the role (not a separate AWS::IAM::Policy) because each function references its role:
        CloudFormation then cannot create a function, or the event source mapping and the topics resource
        that use one, before every permission is in place.
        """
        grants = _Statements(self)
        vpc_enis = iam.PolicyStatement(sid="VpcNetworkInterfaces", resources=["*"], actions=VPC_ENI_ACTIONS)
        for role, statements in (grants.pipeline() | grants.live()).items():
            in_vpc = role not in OUTSIDE_VPC_ROLES
            document = iam.PolicyDocument(statements=[*statements, *([vpc_enis] if in_vpc else [])])
            # Policies.0 is Chalice's (CloudWatch Logs, from .chalice/policy.json)
            self.chalice.get_resource(role).add_property_override(
                "Policies.1", {"PolicyName": f"{role}Grants", "PolicyDocument": document.to_json()}
            )

    def _topics(self) -> None:
        """Topics, created once by the app's own provisioner function; the consumer's event source waits for them."""
        provider = cr.Provider(
            self,
            "TopicProvider",
            on_event_handler=self.chalice.get_function("TopicProvisioner"),
            log_group=logs.LogGroup(self, "TopicProviderLogs", retention=logs.RetentionDays.ONE_MONTH),
        )
        self.topics = CustomResource(
            self,
            "Topics",
            service_token=provider.service_token,
            resource_type="Custom::KafkaTopics",
            properties={
                "Topics": [
                    {"Name": self.topic, "Partitions": self.config.topic["partitions"]},
                    {"Name": self.dead_letter_topic, "Partitions": 1},
                ]
            },
        )

    def _event_source(self) -> None:
        """On-demand mode, no on-failure destination: a failing batch is retried until it succeeds.

        The consumer dead-letters records that can never be stored itself, so a batch fails only on a
        transient fault (DynamoDB or MSK unreachable, throttling); skipping it would lose acknowledged
        events. Retry limits and bisecting exist only in provisioned poller mode (docs/deploy.md).
        """
        config = self.config.consumer
        self.event_source = lambda_.CfnEventSourceMapping(
            self,
            "ConsumerEventSource",
            function_name=self.consumer.function_name,
            event_source_arn=self.cluster_arn,
            topics=[self.topic],
            starting_position="TRIM_HORIZON",
            batch_size=config["batch_size"],
            maximum_batching_window_in_seconds=config["batching_window_seconds"],
            amazon_managed_kafka_event_source_config=lambda_.CfnEventSourceMapping.AmazonManagedKafkaEventSourceConfigProperty(
                consumer_group_id=config["group_id"]
            ),
        )
        if config.get("pollers"):  # provisioned mode: pollers kept warm for a matchday's bursts
            self.event_source.provisioned_poller_config = lambda_.CfnEventSourceMapping.ProvisionedPollerConfigProperty(
                minimum_pollers=config["pollers"]["minimum"], maximum_pollers=config["pollers"]["maximum"]
            )
        self.event_source.node.add_dependency(self.topics)

    def _live(self) -> None:
        """Live push. The $default route answers with the handler's body (a route response: two-way), so
        replies to subscribe, unsubscribe and publish need no Management API call from inside the VPC. The
        broadcaster reads the table's stream: a failing batch is bisected and retried; records that still fail
        after RETRY_ATTEMPTS (or an hour) go to a queue and an alarm, since their subscribers catch up from the
        change feed anyway."""
        api_id = self.chalice.get_resource("WebsocketAPI").ref
        route = self.chalice.get_resource("WebsocketMessageRoute")
        route.add_property_override("RouteResponseSelectionExpression", "$default")
        response = apigatewayv2.CfnRouteResponse(
            self, "WebsocketMessageRouteResponse", api_id=api_id, route_id=route.ref, route_response_key="$default"
        )
        self.chalice.get_resource("WebsocketAPIDeployment").node.add_dependency(response)
        broadcaster = self.chalice.get_resource("Broadcaster")
        broadcaster.add_property_override("Environment.Variables.WEBSOCKET_API_ID", api_id)
        # Outside the VPC: it calls the Management API, a public endpoint the private subnets cannot reach
        # (an execute-api VPC endpoint serves private APIs only). Chalice's stage-wide VPC settings override
        # any per-function ones it is given, hence the deletion here.
        broadcaster.add_property_deletion_override("VpcConfig")
        broadcaster.add_property_override("Environment.Variables.FANOUT_QUEUE_URL", self.fanout_queue.queue_url)
        sender = self.chalice.get_resource("Sender")
        sender.add_property_override("Environment.Variables.WEBSOCKET_API_ID", api_id)
        sender.add_property_deletion_override("VpcConfig")  # it pushes through the Management API too
        lambda_.CfnEventSourceMapping(
            self,
            "SenderEventSource",
            function_name=self.chalice.get_function("Sender").function_name,
            event_source_arn=self.fanout_queue.queue_arn,
            batch_size=10,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=lambda_.CfnEventSourceMapping.ScalingConfigProperty(
                maximum_concurrency=self.config.functions["sender_concurrency"]
            ),
        )
        # the match centre page (GET /) asks the API where to connect
        self.websocket_url = Fn.sub(
            f"wss://${{WebsocketAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}"
        )
        self.chalice.get_resource("APIHandler").add_property_override(
            "Environment.Variables.WEBSOCKET_URL", self.websocket_url
        )
        self.broadcaster = self.chalice.get_function("Broadcaster")
        lambda_.CfnEventSourceMapping(
            self,
            "BroadcasterEventSource",
            function_name=self.broadcaster.function_name,
            event_source_arn=self.table.table_stream_arn,
            starting_position="LATEST",
            batch_size=broadcast.BATCH_SIZE,
            maximum_batching_window_in_seconds=0,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=broadcast.RETRY_ATTEMPTS,
            maximum_record_age_in_seconds=3600,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=lambda_.CfnEventSourceMapping.DestinationConfigProperty(
                on_failure=lambda_.CfnEventSourceMapping.OnFailureProperty(
                    destination=self.broadcast_failures.queue_arn
                )
            ),
        )

    def _api(self) -> None:
        """API Gateway settings Chalice does not expose: throttled ingest, access and execution logs, tracing."""
        rest_api = self.chalice.get_resource("RestAPI")
        websocket_stage = self.chalice.get_resource("WebsocketAPIStage")
        if self.config.api["account_cloudwatch_role"]:
            # The stage writes execution and access logs, which API Gateway refuses ("CloudWatch Logs role ARN
            # must be set in account settings") unless the account has a logging role. The setting is one per
            # account and region, outlives the stack and is shared by every API there: retained.
            role = iam.Role(
                self,
                "ApiGatewayCloudWatchRole",
                assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
                ],
            )
            role.apply_removal_policy(RemovalPolicy.RETAIN)
            account = apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
            account.apply_removal_policy(RemovalPolicy.RETAIN)
            rest_api.node.add_dependency(account)
            websocket_stage.node.add_dependency(account)
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
        assert isinstance(websocket_stage, apigatewayv2.CfnStage)
        websocket_stage.access_log_settings = apigatewayv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format='{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
            '"route":"$context.routeKey","event":"$context.eventType","connectionId":"$context.connectionId",'
            '"status":"$context.status","latencyMs":"$context.integrationLatency"}',
        )
        rest_api.add_property_override(
            "MethodSettings",
            [
                {
                    "ResourcePath": "/~1events",
                    "HttpMethod": "POST",
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": self.config.api["ingest_rate_limit"],
                    "ThrottlingBurstLimit": self.config.api["ingest_burst_limit"],
                },
                {
                    "ResourcePath": "/~1matches~1{match_id}~1events~1{event_type}",
                    "HttpMethod": "DELETE",
                    "MetricsEnabled": True,
                    "ThrottlingRateLimit": self.config.api["ingest_rate_limit"],
                    "ThrottlingBurstLimit": self.config.api["ingest_burst_limit"],
                },
                {  # every other route: the public reads (a CDN in front answers most of them)
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "MetricsEnabled": True,
                    "LoggingLevel": "ERROR",
                    "ThrottlingRateLimit": self.config.api["read_rate_limit"],
                    "ThrottlingBurstLimit": self.config.api["read_burst_limit"],
                },
            ],
        )
        websocket_stage.default_route_settings = apigatewayv2.CfnStage.RouteSettingsProperty(
            throttling_rate_limit=self.config.api["websocket_rate_limit"],
            throttling_burst_limit=self.config.api["websocket_burst_limit"],
        )
        self._reserve_concurrency()
        rest_api.add_property_override(
            "AccessLogSetting",
            {
                "DestinationArn": access_logs.log_group_arn,
                "Format": '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                '"method":"$context.httpMethod","path":"$context.resourcePath","status":"$context.status",'
                '"latencyMs":"$context.responseLatency","bytes":"$context.responseLength"}',
            },
        )
        rest_api.add_property_override("TracingEnabled", True)
        # API Gateway answers 401 to a malformed Authorization header without invoking the authorizer.
        rest_api.add_property_override(
            "DefinitionBody.securityDefinitions.producer_token.x-amazon-apigateway-authorizer."
            "identityValidationExpression",
            security.IDENTITY_VALIDATION_EXPRESSION,
        )

    def _reserve_concurrency(self) -> None:
        """The consumer and the broadcaster always have theirs, producers theirs, and the public reads can
        take no more than their share of the account's (docs/capacity.md)."""
        functions = {"ingest": "IngestHandler", "reads": "APIHandler", "consumer": "Consumer"}
        functions |= {"broadcaster": "Broadcaster", "sender": "Sender"}
        for role, reserved in self.config.functions["reserved_concurrency"].items():
            self.chalice.get_resource(functions[role]).add_property_override("ReservedConcurrentExecutions", reserved)

    def _cdn(self) -> None:
        """CloudFront in front of the REST API's reads, one cache behaviour per ``chalicelib.caching``
        behaviour, and a regional AWS WAF web ACL with rate-based rules on the API's stage.

        The web ACL is REGIONAL, on the stage itself: a CLOUDFRONT-scope web ACL must be created in
        us-east-1, and this stack deploys to whichever region its config names. On the stage it guards both
        doors, the CDN's requests and direct calls. Behind CloudFront every request comes from an edge
        address, so one rule counts by the viewer's address (X-Forwarded-For) and another, higher one by
        the sender's."""
        origin = origins.HttpOrigin(
            Fn.sub("${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
            origin_path=f"/{API_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        )

        def behaviour(rule: caching.Behaviour, n: int) -> cloudfront.BehaviorOptions:
            policy = cloudfront.CachePolicy(
                self,
                f"CachePolicy{n}",
                comment=f"{rule.path}: max-age {rule.max_age} s, as the API says (chalicelib/caching.py)",
                default_ttl=Duration.seconds(rule.max_age),
                min_ttl=Duration.seconds(0),
                max_ttl=Duration.seconds(caching.IMMUTABLE_MAX_AGE),  # the API's own max-age governs below it
                query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list(*rule.query)
                if rule.query
                else cloudfront.CacheQueryStringBehavior.none(),
                header_behavior=cloudfront.CacheHeaderBehavior.none(),
                cookie_behavior=cloudfront.CacheCookieBehavior.none(),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            )
            return cloudfront.BehaviorOptions(
                origin=origin,
                cache_policy=policy,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                compress=True,
            )

        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"{APP_NAME} {self.config.stage}: the REST API's reads",
            default_behavior=behaviour(caching.DEFAULT, 0),
            additional_behaviors={rule.path: behaviour(rule, n) for n, rule in enumerate(caching.BEHAVIOURS, 1)},
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )

        self._waf()

    def _waf(self) -> None:
        """The regional web ACL on the API's stage (see _cdn): a rule by viewer, a higher one by sender."""
        waf = self.config.waf
        acl = wafv2.CfnWebACL(
            self,
            "ApiWebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[
                _rate_rule("PerViewer", 0, waf["viewer_requests_per_5_minutes"], forwarded=True),
                _rate_rule("PerSender", 1, waf["sender_requests_per_5_minutes"], forwarded=False),
            ],
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=f"{APP_NAME}-api", sampled_requests_enabled=True
            ),
        )
        association = wafv2.CfnWebACLAssociation(
            self,
            "ApiWebAclAssociation",
            resource_arn=Fn.sub(
                f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{RestAPI}}/stages/{API_STAGE}"
            ),
            web_acl_arn=acl.attr_arn,
        )
        association.add_override("DependsOn", [f"RestAPI{API_STAGE}Stage"])  # SAM's name for the API's stage

    def _observe(self) -> None:
        """Alarms on lag, a consumer that never runs, errors, throttles, 5xx and dead letters; one dashboard."""
        alarm_topic = sns.Topic(self, "Alarms", enforce_ssl=True)
        # enforce_ssl writes a topic policy of one Deny, which replaces SNS's default: without this statement
        # nothing may publish, and every alarm would fire into nothing
        alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[alarm_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        if self.config.alarms.get("email"):
            alarm_topic.add_subscription(subscriptions.EmailSubscription(self.config.alarms["email"]))
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{APP_NAME}-{self.config.stage}")
        for name, (metric, threshold, meaning) in (self._pipeline_alarms() | self._push_alarms()).items():
            alarm = cloudwatch.Alarm(
                self,
                f"{name}Alarm",
                metric=metric,
                threshold=threshold,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                alarm_description=f"{name}: {meaning}",
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
            dashboard.add_widgets(cloudwatch.GraphWidget(title=name, left=[metric], width=12))

    def _pipeline_alarms(self) -> dict[str, _Alarm]:
        """Ingest, the consumer and the API: lag, a consumer never invoked, errors, throttles, 5xx."""
        consumer_name = self.consumer.function_name
        api_name = self.chalice.get_function("APIHandler").function_name
        ingest_name = self.chalice.get_function("IngestHandler").function_name

        def api_metric(name: str) -> cloudwatch.Metric:
            ingest = {"ApiName": APP_NAME, "Stage": API_STAGE, "Method": "POST", "Resource": "/events"}
            return _per_minute("AWS/ApiGateway", name, ingest)

        # OffsetLag comes from the event source only once it polls: a mapping that never connects (IAM,
        # network) emits nothing, and a missing metric cannot breach. This one does: POST /events takes
        # requests (answered without a 4xx) while the consumer is not invoked at all.
        stalled = cloudwatch.MathExpression(
            expression="IF(FILL(posts, 0) - FILL(rejected, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)",
            using_metrics={
                "posts": api_metric("Count"),
                "rejected": api_metric("4XXError"),
                "invocations": _lambda_metric("Invocations", consumer_name),
            },
            label="events accepted, consumer not invoked",
            period=Duration.minutes(5),
        )
        return {
            "ConsumerOffsetLag": (
                _lambda_metric("OffsetLag", consumer_name, "Maximum"),
                self.config.alarms["offset_lag_threshold"],
                "the consumer is falling behind the topic",
            ),
            "ConsumerNotConsuming": (
                stalled,
                0,
                "events are accepted but the consumer is never invoked: the event "
                "source mapping cannot reach the cluster, topic or group",
            ),
            "ConsumerErrors": (_lambda_metric("Errors", consumer_name), 0, "consumer batches are failing and retrying"),
            "ConsumerThrottles": (_lambda_metric("Throttles", consumer_name), 0, "the consumer is being throttled"),
            "ApiErrors": (_lambda_metric("Errors", api_name), 0, "the API Lambda is failing"),
            "ApiThrottles": (_lambda_metric("Throttles", api_name), 0, "the API Lambda is being throttled"),
            "IngestErrors": (_lambda_metric("Errors", ingest_name), 0, "the producer routes' Lambda is failing"),
            "IngestThrottles": (_lambda_metric("Throttles", ingest_name), 0, "producers are being throttled"),
            "Api5xx": (
                _per_minute("AWS/ApiGateway", "5XXError", {"ApiName": APP_NAME}),
                0,
                "the API answered 5xx (503 included: Kafka did not acknowledge)",
            ),
            "DeadLetteredRecords": (
                _app_metric("DeadLetteredRecords"),
                0,
                "records went to the dead-letter topic",
            ),
        }

    def _push_alarms(self) -> dict[str, _Alarm]:
        """The broadcaster, the fan-out and the WebSocket API: errors, lag, failed and given-up pushes."""
        minute = Duration.minutes(1)

        def websocket_metric(name: str) -> cloudwatch.Metric:
            websocket = {"ApiId": self.chalice.get_resource("WebsocketAPI").ref, "Stage": API_STAGE}
            return _per_minute("AWS/ApiGateway", name, websocket)

        return {
            "BroadcasterErrors": (
                _lambda_metric("Errors", self.broadcaster.function_name),
                0,
                "the broadcaster is failing: pushes are delayed or skipped",
            ),
            "BroadcasterIteratorAge": (
                _lambda_metric("IteratorAge", self.broadcaster.function_name, "Maximum"),
                self.config.alarms["push_delay_ms"],
                "pushes lag behind the stored changes",
            ),
            "FailedBroadcasts": (
                _app_metric("FailedBroadcasts"),
                0,
                "broadcast batches are being retried (DynamoDB unreachable?)",
            ),
            "FailedPushes": (
                _app_metric("FailedPushes"),
                0,
                "pushes to connected subscribers failed (not gone: throttled or erroring)",
            ),
            "WebSocketApiErrors": (
                cloudwatch.MathExpression(
                    expression="FILL(execution, 0) + FILL(integration, 0)",
                    using_metrics={
                        "execution": websocket_metric("ExecutionError"),
                        "integration": websocket_metric("IntegrationError"),
                    },
                    label="WebSocket API execution and integration errors",
                    period=minute,
                ),
                0,
                "the WebSocket API failed requests (its own errors, or its functions')",
            ),
            **{
                f"{name}Errors": (
                    _lambda_metric("Errors", self.chalice.get_function(name).function_name),
                    0,
                    f"the {route} handler is failing",
                )
                for name, route in (
                    ("WebsocketConnect", "$connect"),
                    ("WebsocketMessage", "$default"),
                    ("WebsocketDisconnect", "$disconnect"),
                )
            },
            "FanoutGivenUp": (
                self.fanout_dead_letters.metric_approximate_number_of_messages_visible(period=minute),
                0,
                "shards of a big match's followers were given up on: they missed pushes",
            ),
            "BroadcastsGivenUp": (
                self.broadcast_failures.metric_approximate_number_of_messages_visible(period=minute),
                0,
                "stream records were given up on: their subscribers missed pushes",
            ),
        }

    def _outputs(self) -> None:
        """What a deployer needs next: where the APIs are, what to inspect, where the producer token is."""
        api_url = Fn.sub(f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}/")
        CfnOutput(self, "ApiUrl", value=api_url, description="Base URL of the REST API (producers post here)")
        CfnOutput(
            self,
            "CdnUrl",
            value=f"https://{self.distribution.distribution_domain_name}/",
            description="The match centre and every read, through CloudFront",
        )
        CfnOutput(
            self, "WebSocketUrl", description="wss:// URL of the WebSocket API (live push)", value=self.websocket_url
        )
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "Topic", value=self.topic)
        CfnOutput(self, "ClusterArn", value=self.cluster_arn)
        CfnOutput(self, "VpcId", value=self.vpc.vpc_id, description="make destroy clears leftover Lambda ENIs here")
        CfnOutput(
            self,
            "IngestTokenSecretArn",
            value=self.ingest_secret.secret_arn,
            description="aws secretsmanager get-secret-value --secret-id <this> gives the producer token",
        )


class _Statements:
    """The policy statements each function's role gets: the pipeline's (ingest, consumer, topics, reads)
    and the live side's (WebSocket routes, broadcaster, sender)."""

    def __init__(self, stack: "FootballStack") -> None:
        self.stack = stack
        self.topics = stack._kafka_arn("topic", stack.topic)
        self.dlq = stack._kafka_arn("topic", stack.dead_letter_topic)
        self.group = stack._kafka_arn("group", stack.config.consumer["group_id"])
        self.table, self.indexes = stack.table.table_arn, f"{stack.table.table_arn}/index/*"
        # MSK IAM access control: "Produce data idempotently" needs WriteDataIdempotently on the cluster,
        # and the producer is idempotent (chalicelib.publishing.producer_config).
        self.produce = self.kafka("ProduceIdempotently", [stack.cluster_arn], "Connect", "WriteDataIdempotently")
        self.read_token = iam.PolicyStatement(
            sid="ReadToken",
            resources=[stack.ingest_secret.secret_arn],
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        )
        self.push_to_connections = iam.PolicyStatement(
            sid="PushToConnections",
            actions=["execute-api:ManageConnections"],
            # POST: send to a connection of this WebSocket API's stage
            resources=[
                Fn.sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/"
                    f"{API_STAGE}/POST/@connections/*"
                )
            ],
        )

    @staticmethod
    def kafka(sid: str, resources: list[str], *actions: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(sid=sid, resources=resources, actions=[f"kafka-cluster:{a}" for a in actions])

    def dynamodb(self, sid: str, *actions: str, resources: list[str] | None = None) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=sid, resources=resources or [self.table, self.indexes], actions=[f"dynamodb:{a}" for a in actions]
        )

    def subscriptions(self, sid: str, *actions: str) -> iam.PolicyStatement:
        return self.dynamodb(sid, *actions, resources=[self.stack.subscriptions.table_arn])

    def pipeline(self) -> dict[str, list[iam.PolicyStatement]]:
        cluster = self.stack.cluster_arn
        # The event source mapping reads as the consumer's role; on a provisioned cluster it also reads the
        # cluster's dynamic configuration (an action MSK Serverless does not have).
        dynamic_config = (
            [self.kafka("EventSourceClusterConfig", [cluster], "DescribeClusterDynamicConfiguration")]
            if self.stack.config.provisioned_msk
            else []
        )
        return {
            "ApiHandlerRole": [self.dynamodb("ReadTable", "Query", "GetItem")],
            "IngestHandlerRole": [
                self.read_token,  # each producer route reads who sent it from the token itself
                self.produce,
                self.kafka("PublishEvents", [self.topics], "DescribeTopic", "WriteData"),
            ],
            "ConsumerRole": [
                self.produce,
                *dynamic_config,
                self.kafka("ReadEvents", [self.topics], "DescribeTopic", "ReadData"),
                self.kafka("ConsumerGroup", [self.group], "AlterGroup", "DescribeGroup"),
                self.kafka("PublishDeadLetters", [self.dlq], "DescribeTopic", "WriteData"),
                iam.PolicyStatement(
                    sid="EventSourceMapping",
                    resources=[cluster],
                    actions=["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
                ),
                iam.PolicyStatement(
                    sid="EventSourceNetwork",
                    resources=["*"],
                    actions=["ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
                ),
                self.dynamodb(
                    "WriteTable", "Query", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem"
                ),
            ],
            "TopicProvisionerRole": [
                self.kafka("Connect", [cluster], "Connect"),
                self.kafka("CreateTopics", [self.topics, self.dlq], "DescribeTopic", "CreateTopic"),
            ],
            "ProducerTokenRole": [self.read_token],
        }

    def live(self) -> dict[str, list[iam.PolicyStatement]]:
        stack = self.stack
        return {
            "WebsocketConnectRole": [self.read_token, self.subscriptions("RecordConnection", "PutItem")],
            "WebsocketMessageRole": [
                self.read_token,  # a publish rechecks that the connection's token is still accepted
                self.produce,
                self.kafka("PublishEvents", [self.topics], "DescribeTopic", "WriteData"),
                self.dynamodb("ReadTable", "Query", "GetItem"),
                self.subscriptions("Subscribe", "BatchWriteItem", "GetItem"),
            ],
            "WebsocketDisconnectRole": [self.subscriptions("Forget", "Query", "BatchWriteItem")],
            "SenderRole": [
                self.subscriptions("Followers", "Query", "BatchWriteItem"),
                self.push_to_connections,
                iam.PolicyStatement(
                    sid="FanoutJobs",
                    actions=[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    resources=[stack.fanout_queue.queue_arn],
                ),
            ],
            "BroadcasterRole": [
                self.dynamodb("ReadTable", "Query"),
                self.subscriptions("Subscribers", "Query", "BatchWriteItem"),
                # the stream event source reads as the function's role (AWSLambdaDynamoDBExecutionRole's actions)
                self.dynamodb(
                    "ReadStream",
                    "DescribeStream",
                    "GetRecords",
                    "GetShardIterator",
                    "ListStreams",
                    resources=[stack.table.table_stream_arn or ""],
                ),
                self.push_to_connections,
                iam.PolicyStatement(
                    sid="GiveUpOnRecords", actions=["sqs:SendMessage"], resources=[stack.broadcast_failures.queue_arn]
                ),
                iam.PolicyStatement(
                    sid="QueueShards", actions=["sqs:SendMessage"], resources=[stack.fanout_queue.queue_arn]
                ),
            ],
        }
