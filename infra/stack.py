"""The product on AWS: API Gateway and Lambda (the Chalice app), Amazon MSK, DynamoDB.

Everything the app needs is wired here: the VPC its Lambdas and the MSK event
source share, the cluster and its topics, the table (keys from
chalicelib.layout), the event source mapping that plays the consumer's
trigger, permissions on the Chalice role, the producer secret, alarms and a
dashboard. Sizes and region come from infra/config/<env>.json.
"""

from pathlib import Path

from aws_cdk import CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack
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
from aws_cdk import custom_resources as cr
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib import layout
from chalicelib.observability import NAMESPACE, SERVICE
from infra.config import StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP_NAME = "football-match-data"
MSK_IAM_PORT = 9098


class FootballStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        production = config.table["deletion_protection"]

        # -- network: private subnets; endpoints let the MSK event source reach Lambda and STS ----------
        self.vpc = ec2.Vpc(self, "Vpc", max_azs=config.vpc["max_azs"], nat_gateways=config.vpc["nat_gateways"],
                           subnet_configuration=[
                               ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                               ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                                                       if config.vpc["nat_gateways"] == 0
                                                       else ec2.SubnetType.PRIVATE_WITH_EGRESS),
                           ])
        self.vpc.add_flow_log("FlowLog")
        private = ec2.SubnetSelection(subnet_group_name="private")
        self.lambda_sg = ec2.SecurityGroup(self, "LambdaSg", vpc=self.vpc, allow_all_outbound=False,
                                           description="App Lambdas: out to MSK and the VPC endpoints")
        self.msk_sg = ec2.SecurityGroup(self, "MskSg", vpc=self.vpc, allow_all_outbound=False,
                                        description="MSK brokers and the MSK event source ENIs")
        endpoint_sg = ec2.SecurityGroup(self, "EndpointSg", vpc=self.vpc, allow_all_outbound=False,
                                        description="Interface endpoints: HTTPS from the Lambdas and the event source")
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
        self.vpc.add_gateway_endpoint("DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                                      subnets=[private])
        for name, service in (("Lambda", ec2.InterfaceVpcEndpointAwsService.LAMBDA_),
                              ("Sts", ec2.InterfaceVpcEndpointAwsService.STS),
                              ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER)):
            self.vpc.add_interface_endpoint(f"{name}Endpoint", service=service, subnets=private,
                                            security_groups=[endpoint_sg], private_dns_enabled=True)
        private_subnet_ids = self.vpc.select_subnets(subnet_group_name="private").subnet_ids

        # -- Amazon MSK with IAM auth --------------------------------------------------------------------
        cluster_name = f"{APP_NAME}-{config.stage}"
        iam_auth = {"sasl": {"iam": {"enabled": True}}}
        if config.provisioned_msk:
            self.cluster: msk.CfnCluster | msk.CfnServerlessCluster = msk.CfnCluster(
                self, "Cluster", cluster_name=cluster_name, kafka_version=config.msk["kafka_version"],
                number_of_broker_nodes=config.msk["brokers"], client_authentication=iam_auth,
                broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                    instance_type=config.msk["instance_type"], client_subnets=private_subnet_ids,
                    security_groups=[self.msk_sg.security_group_id],
                    storage_info={"ebsStorageInfo": {"volumeSize": config.msk["volume_gb"]}}),
                encryption_info={"encryptionInTransit": {"clientBroker": "TLS", "inCluster": True}},
                enhanced_monitoring="PER_TOPIC_PER_PARTITION",
                logging_info={"brokerLogs": {"cloudWatchLogs": {"enabled": True, "logGroup": logs.LogGroup(
                    self, "BrokerLogs", retention=logs.RetentionDays.ONE_MONTH).log_group_name}}},
            )
        else:
            self.cluster = msk.CfnServerlessCluster(
                self, "Cluster", cluster_name=cluster_name, client_authentication=iam_auth,
                vpc_configs=[msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=private_subnet_ids, security_groups=[self.msk_sg.security_group_id])],
            )
        self.cluster_arn = self.cluster.attr_arn
        brokers = cr.AwsCustomResource(
            self, "BootstrapBrokers",
            on_update=cr.AwsSdkCall(service="Kafka", action="getBootstrapBrokers",
                                    parameters={"ClusterArn": self.cluster_arn},
                                    physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
                                    output_paths=["BootstrapBrokerStringSaslIam"]),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            install_latest_aws_sdk=False,
        )
        bootstrap_servers = brokers.get_response_field("BootstrapBrokerStringSaslIam")
        topic, dead_letter_topic = config.topic["name"], f"{config.topic['name']}-dlq"

        # -- DynamoDB: keys and index from chalicelib.layout ----------------------------------------------
        self.table = dynamodb.Table(
            self, "Events",
            partition_key=dynamodb.Attribute(name=layout.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=layout.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=production,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
        )
        self.table.add_local_secondary_index(
            index_name=layout.TYPE_INDEX,
            sort_key=dynamodb.Attribute(name=layout.TYPE_SORT_KEY, type=dynamodb.AttributeType.STRING))

        # -- the producer credential ---------------------------------------------------------------------
        self.ingest_secret = secretsmanager.Secret(
            self, "IngestToken", description="Bearer token producers send to POST /events",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=48))

        # -- the Chalice app: REST API, authorizer, consumer, topic provisioner, all in the VPC -----------
        self.chalice = Chalice(self, "App", source_dir=str(PROJECT_DIR), stage_config={
            "api_gateway_stage": "api",
            "autogen_policy": False,
            "iam_policy_file": "policy.json",
            "lambda_memory_size": config.functions["memory_mb"],
            "lambda_timeout": config.functions["timeout_seconds"],
            "subnet_ids": private_subnet_ids,
            "security_group_ids": [self.lambda_sg.security_group_id],
            "environment_variables": {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
                "KAFKA_AUTH": "msk_iam",
                "EVENTS_TOPIC": topic,
                "EVENTS_DEAD_LETTER_TOPIC": dead_letter_topic,
                "EVENTS_TABLE": self.table.table_name,
                "INGEST_TOKEN_SECRET_ARN": self.ingest_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
            },
        })
        self.consumer = self.chalice.get_function("Consumer")
        self._grant_app(topic, dead_letter_topic)

        # -- topics, created once by the app's own provisioner function -----------------------------------
        provider = cr.Provider(self, "TopicProvider", on_event_handler=self.chalice.get_function("TopicProvisioner"),
                               log_group=logs.LogGroup(self, "TopicProviderLogs", retention=logs.RetentionDays.ONE_MONTH))
        self.topics = CustomResource(self, "Topics", service_token=provider.service_token,
                                     resource_type="Custom::KafkaTopics",
                                     properties={"Topics": [
                                         {"Name": topic, "Partitions": config.topic["partitions"]},
                                         {"Name": dead_letter_topic, "Partitions": 1},
                                     ]})

        # -- the consumer's trigger: MSK event source mapping ---------------------------------------------
        self.failed_batches = sqs.Queue(self, "FailedBatches", enforce_ssl=True, retention_period=Duration.days(14),
                                        encryption=sqs.QueueEncryption.SQS_MANAGED)
        self.failed_batches.grant_send_messages(self.roles["ConsumerRole"])
        self.event_source = lambda_.CfnEventSourceMapping(
            self, "ConsumerEventSource",
            function_name=self.consumer.function_name,
            event_source_arn=self.cluster_arn,
            topics=[topic],
            starting_position="TRIM_HORIZON",
            batch_size=config.consumer["batch_size"],
            maximum_batching_window_in_seconds=config.consumer["batching_window_seconds"],
            amazon_managed_kafka_event_source_config=lambda_.CfnEventSourceMapping.AmazonManagedKafkaEventSourceConfigProperty(
                consumer_group_id=config.consumer["group_id"]),
            destination_config=lambda_.CfnEventSourceMapping.DestinationConfigProperty(
                on_failure=lambda_.CfnEventSourceMapping.OnFailureProperty(destination=self.failed_batches.queue_arn)),
        )
        self.event_source.node.add_dependency(self.topics)

        # -- the API: throttled ingest, access logs ---------------------------------------------------------
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
        rest_api = self.chalice.get_resource("RestAPI")
        rest_api.add_property_override("MethodSettings", [
            {"ResourcePath": "/~1events", "HttpMethod": "POST", "MetricsEnabled": True,
             "ThrottlingRateLimit": config.api["ingest_rate_limit"],
             "ThrottlingBurstLimit": config.api["ingest_burst_limit"]},
            {"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True, "LoggingLevel": "ERROR"},
        ])
        rest_api.add_property_override("AccessLogSetting", {
            "DestinationArn": access_logs.log_group_arn,
            "Format": '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                      '"method":"$context.httpMethod","path":"$context.resourcePath","status":"$context.status",'
                      '"latencyMs":"$context.responseLatency","bytes":"$context.responseLength"}',
        })
        rest_api.add_property_override("TracingEnabled", True)

        self._observe()
        api_url = Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/")
        CfnOutput(self, "ApiUrl", value=api_url, description="Base URL of the REST API")
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "Topic", value=topic)
        CfnOutput(self, "ClusterArn", value=self.cluster_arn)
        CfnOutput(self, "IngestTokenSecretArn", value=self.ingest_secret.secret_arn,
                  description="aws secretsmanager get-secret-value --secret-id <this> gives the producer token")

    def _kafka_arn(self, kind: str, name: str) -> str:
        """topic/group ARNs of this cluster: arn:...:cluster/NAME/UUID -> arn:...:KIND/NAME/UUID/name."""
        parts = Fn.split("/", self.cluster_arn)
        return Fn.join("", [f"arn:{self.partition}:kafka:{self.region}:{self.account}:{kind}/",
                            Fn.select(1, parts), "/", Fn.select(2, parts), "/", name])

    def _grant_app(self, topic: str, dead_letter_topic: str) -> None:
        """Least privilege per function, on the roles (get_function returns functions without one)."""
        topics, dlq = self._kafka_arn("topic", topic), self._kafka_arn("topic", dead_letter_topic)

        def kafka(sid: str, resources: list[str], *actions: str) -> iam.PolicyStatement:
            return iam.PolicyStatement(sid=sid, resources=resources, actions=[f"kafka-cluster:{a}" for a in actions])

        connect = kafka("KafkaConnect", [self.cluster_arn], "Connect", "DescribeCluster")
        vpc_enis = iam.PolicyStatement(sid="VpcNetworkInterfaces", resources=["*"], actions=[
            "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
            "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"])
        grants = {
            "ApiHandlerRole": [connect, kafka("PublishEvents", [topics], "DescribeTopic", "WriteData")],
            "ConsumerRole": [
                connect,
                kafka("ReadEvents", [topics], "DescribeTopic", "ReadData"),
                kafka("ConsumerGroup", [self._kafka_arn("group", self.config.consumer["group_id"])],
                      "AlterGroup", "DescribeGroup"),
                kafka("PublishDeadLetters", [dlq], "DescribeTopic", "WriteData"),
                iam.PolicyStatement(sid="EventSourceMapping", resources=[self.cluster_arn],
                                    actions=["kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"]),
            ],
            "TopicProvisionerRole": [connect, kafka("CreateTopics", [topics, dlq], "DescribeTopic", "CreateTopic")],
            "ProducerTokenRole": [],
        }
        self.roles = {name: self.chalice.get_role(name) for name in grants}
        for name, statements in grants.items():
            for statement in [*statements, vpc_enis]:
                self.roles[name].add_to_principal_policy(statement)
        self.table.grant_read_data(self.roles["ApiHandlerRole"])
        self.table.grant_read_write_data(self.roles["ConsumerRole"])
        self.ingest_secret.grant_read(self.roles["ProducerTokenRole"])

    def _observe(self) -> None:
        """Alarms on lag, errors, throttles, 5xx and dead letters, to an SNS topic; one dashboard."""
        alarm_topic = sns.Topic(self, "Alarms", enforce_ssl=True)
        if self.config.alarms.get("email"):
            alarm_topic.add_subscription(subscriptions.EmailSubscription(self.config.alarms["email"]))
        consumer_name = self.consumer.function_name
        api_name = self.chalice.get_function("APIHandler").function_name

        def lambda_metric(name: str, function_name: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="AWS/Lambda", metric_name=name, statistic=statistic,
                                     dimensions_map={"FunctionName": function_name}, period=Duration.minutes(1))

        metrics = {
            "ConsumerOffsetLag": (lambda_metric("OffsetLag", consumer_name, "Maximum"),
                                  self.config.alarms["offset_lag_threshold"], "the consumer is falling behind the topic"),
            "ConsumerErrors": (lambda_metric("Errors", consumer_name), 0, "consumer batches are failing and retrying"),
            "ConsumerThrottles": (lambda_metric("Throttles", consumer_name), 0, "the consumer is being throttled"),
            "ApiErrors": (lambda_metric("Errors", api_name), 0, "the API Lambda is failing"),
            "ApiThrottles": (lambda_metric("Throttles", api_name), 0, "the API Lambda is being throttled"),
            "Api5xx": (cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="5XXError", statistic="Sum",
                                         dimensions_map={"ApiName": APP_NAME}, period=Duration.minutes(1)),
                       0, "the API answered 5xx (503 included: Kafka did not acknowledge)"),
            "FailedBatches": (self.failed_batches.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1)), 0, "batches the event source gave up on are in the on-failure queue"),
            "DeadLetteredRecords": (cloudwatch.Metric(namespace=NAMESPACE, metric_name="DeadLetteredRecords",
                                                      statistic="Sum", dimensions_map={"service": SERVICE},
                                                      period=Duration.minutes(1)),
                                    0, "records went to the dead-letter topic"),
        }
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{APP_NAME}-{self.config.stage}")
        for name, (metric, threshold, meaning) in metrics.items():
            alarm = metric.create_alarm(self, f"{name}Alarm", threshold=threshold, evaluation_periods=3,
                                        datapoints_to_alarm=2, alarm_description=f"{name}: {meaning}",
                                        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
            dashboard.add_widgets(cloudwatch.GraphWidget(title=name, left=[metric], width=12))

