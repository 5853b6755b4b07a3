"""The synthesised CloudFormation, asserted offline (no AWS account, no lookups)."""

import contextlib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from chalicelib import broadcast, caching, layout, security
from chalicelib.config import Settings
from chalicelib.publishing import producer_config
from infra.app import build
from infra.config import StackConfig
from infra.package import RUNTIME
from infra.stack import OUTSIDE_VPC_ROLES, VPC_ENI_ACTIONS

PROJECT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def synthesise(env, work_dir):
    """The Chalice construct packages the app into ./chalice.out: keep that in a temp dir."""
    with contextlib.chdir(work_dir):
        _, stack = build(env, str(work_dir / "cdk.out"))
        return stack, Template.from_stack(stack)


@pytest.fixture(scope="module", params=["dev", "prod"])
def synthesised(request, tmp_path_factory):
    return request.param, *synthesise(request.param, tmp_path_factory.mktemp(f"cdk-{request.param}"))


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return synthesise("dev", tmp_path_factory.mktemp("cdk-dev-only"))


def resources(template, kind):
    return template.find_resources(kind)


def only(template, kind):
    (resource,) = resources(template, kind).values()
    return resource["Properties"]


def named(template, kind, prefix):
    """The one resource of this kind whose logical id starts with prefix."""
    (resource,) = [r for name, r in resources(template, kind).items() if name.startswith(prefix)]
    return resource


def _msk_mapping(template):
    (mapping,) = [
        m for m in resources(template, "AWS::Lambda::EventSourceMapping").values() if "Topics" in m["Properties"]
    ]
    return mapping


def test_synthesis_leaves_the_callers_environment_alone(tmp_path):
    before = dict(os.environ)
    synthesise("dev", tmp_path)
    assert dict(os.environ) == before


def test_no_unsuppressed_aws_solutions_findings(synthesised):
    _, stack, _ = synthesised
    annotations = Annotations.from_stack(stack)
    assert annotations.find_error("*", Match.string_like_regexp(".*AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp(".*AwsSolutions-.*")) == []


def test_cfn_lint_finds_nothing_in_the_template(synthesised, tmp_path):
    """CloudFormation's own linter (resource schemas, the SAM transform, deprecated runtimes) on every
    environment; the checks it skips are listed, with reasons, in .cfnlintrc.yaml."""
    env, _, template = synthesised
    path = tmp_path / f"{env}.template.json"
    path.write_text(json.dumps(template.to_json()))
    linter = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(linter), "--config-file", str(PROJECT / ".cfnlintrc.yaml"), "-t", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_region_and_sizes_come_from_configuration(synthesised):
    env, stack, template = synthesised
    config = StackConfig.load(env)
    assert stack.region == config.region
    assert only(template, "Custom::KafkaTopics")["Topics"][0]["Partitions"] == config.topic["partitions"]


def test_event_source_mapping_feeds_the_consumer_from_the_topic(dev):
    _, template = dev
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": ["Cluster", "Arn"]},
            "Topics": ["football-match-events"],
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 1,
            "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "football-consumer"},
            "FunctionName": Match.object_like(
                {"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": ["Consumer", "Arn"]}]}]}
            ),
        },
    )
    mapping = _msk_mapping(template)
    assert "Topics" in mapping["DependsOn"]  # the topic exists before the consumer subscribes


def test_table_and_index_keys_come_from_the_layout_module(synthesised):
    env, _, template = synthesised
    table = named(template, "AWS::DynamoDB::Table", "Events")["Properties"]
    definition = layout.table_definition("any")
    assert table["KeySchema"] == definition["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(definition["AttributeDefinitions"], key=str)
    assert table["LocalSecondaryIndexes"] == definition["LocalSecondaryIndexes"]
    assert table["GlobalSecondaryIndexes"] == definition["GlobalSecondaryIndexes"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table.get("DeletionProtectionEnabled", False) is (env == "prod")
    assert table["StreamSpecification"] == {"StreamViewType": definition["StreamSpecification"]["StreamViewType"]}


def test_msk_is_serverless_by_default_and_provisioned_as_an_option_both_with_iam_auth(synthesised):
    env, _, template = synthesised
    iam_auth = {"Sasl": {"Iam": {"Enabled": True}}}
    if env == "dev":
        cluster = only(template, "AWS::MSK::ServerlessCluster")
    else:
        cluster = only(template, "AWS::MSK::Cluster")
        assert cluster["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    assert cluster["ClientAuthentication"] == iam_auth


def test_every_app_function_but_the_pushers_runs_in_the_private_subnets(dev):
    """The broadcaster and the sender call the WebSocket Management API, a public endpoint the isolated subnets
    cannot reach (an execute-api VPC endpoint serves private APIs only), and need nothing inside the VPC."""
    _, template = dev
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {
        "APIHandler",
        "IngestHandler",
        "Consumer",
        "ProducerToken",
        "TopicProvisioner",
        "WebsocketConnect",
        "WebsocketMessage",
        "WebsocketDisconnect",
        "Broadcaster",
        "Sender",
    }
    assert "VpcConfig" not in functions.pop("Broadcaster")["Properties"]
    assert "VpcConfig" not in functions.pop("Sender")["Properties"]
    for properties in (f["Properties"] for f in functions.values()):
        vpc = properties["VpcConfig"]
        ((security_group, _),) = (sg["Fn::GetAtt"] for sg in vpc["SecurityGroupIds"])
        assert security_group.startswith("LambdaSg")
        assert all(s["Ref"].startswith("Vpcprivate") for s in vpc["SubnetIds"])
        assert properties["Environment"]["Variables"]["KAFKA_AUTH"] == "msk_iam"


def test_lambda_and_sts_are_reachable_from_private_subnets(dev):
    _, template = dev
    services = {
        json.dumps(e["Properties"]["ServiceName"]) for e in resources(template, "AWS::EC2::VPCEndpoint").values()
    }
    assert any(".lambda" in s for s in services) and any(".sts" in s for s in services)
    assert any(".dynamodb" in s for s in services) and any(".secretsmanager" in s for s in services)


def test_brokers_admit_only_the_app_and_the_event_source_on_the_iam_port(dev):
    _, template = dev
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("MskSg")
    ]
    assert {(i["FromPort"], i["ToPort"]) for i in ingress} == {(9098, 9098)}
    assert all("SourceSecurityGroupId" in i for i in ingress)


def test_topics_are_created_by_a_custom_resource_backed_by_the_apps_function(dev):
    _, template = dev
    topics = only(template, "Custom::KafkaTopics")
    assert [t["Name"] for t in topics["Topics"]] == ["football-match-events", "football-match-events-dlq"]
    provider = template.to_json()["Resources"][topics["ServiceToken"]["Fn::GetAtt"][0]]
    assert "TopicProvisioner" in json.dumps(provider["Properties"]["Environment"])


def _statements(template, role):
    """Every statement of a Chalice function's role: its permissions are inline, in the role itself."""
    policies = template.to_json()["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_kafka_permissions_are_scoped_to_the_cluster_topics_and_group(dev):
    _, template = dev
    for role in ("IngestHandlerRole", "ConsumerRole", "TopicProvisionerRole"):
        for statement in _statements(template, role):
            if any(a.startswith("kafka") for a in _actions(statement)):
                assert statement["Resource"] != "*" and "*" not in json.dumps(statement["Resource"])
                assert "kafka-cluster:*" not in _actions(statement)
    api = json.dumps(_statements(template, "ApiHandlerRole"))
    consumer = json.dumps(_statements(template, "ConsumerRole"))
    assert "dynamodb:PutItem" in consumer and "dynamodb:PutItem" not in api and "dynamodb:Query" in api
    assert "kafka" not in api and "secretsmanager" not in api  # the public reads can neither publish nor see tokens


def _msk_resource(resource):
    """("cluster", None), ("topic", name) or ("group", name) for a resource of this stack's cluster."""
    if resource == {"Fn::GetAtt": ["Cluster", "Arn"]}:
        return ("cluster", None)
    kind = re.search(r":(topic|group)/", json.dumps(resource)).group(1)
    return (kind, resource["Fn::Join"][1][-1].lstrip("/"))


def _kafka_grants(template, role):
    grants = defaultdict(set)
    for statement in _statements(template, role):
        resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in _actions(statement):
            if action.startswith("kafka-cluster:"):
                for resource in resources_:
                    grants[_msk_resource(resource)].add(action.removeprefix("kafka-cluster:"))
    return dict(grants)


def _required_kafka_actions(env):
    """What each function does on MSK, as the MSK IAM documentation's use cases list the actions
    (docs.aws.amazon.com/msk/latest/developerguide/iam-access-control-use-cases.html, kafka-actions.html)."""
    config = StackConfig.load(env)
    topic, dlq, group = config.topic["name"], f"{config.topic['name']}-dlq", config.consumer["group_id"]
    idempotent = producer_config(Settings.from_env({}))["enable_idempotence"]

    def produce(to):  # "Produce data" / "Produce data idempotently"
        return {
            ("cluster", None): {"Connect", *(["WriteDataIdempotently"] if idempotent else [])},
            ("topic", to): {"DescribeTopic", "WriteData"},
        }

    consume = {  # "Consume data", by the event source mapping as the consumer's role
        ("cluster", None): {"Connect", *(["DescribeClusterDynamicConfiguration"] if config.provisioned_msk else [])},
        ("topic", topic): {"DescribeTopic", "ReadData"},
        ("group", group): {"DescribeGroup", "AlterGroup"},
    }
    create = {
        ("cluster", None): {"Connect"},
        ("topic", topic): {"CreateTopic", "DescribeTopic"},
        ("topic", dlq): {"CreateTopic", "DescribeTopic"},
    }
    merged = defaultdict(set)
    for part in (consume, produce(dlq)):  # the consumer also dead-letters records
        for resource, actions in part.items():
            merged[resource] |= actions
    return {
        "ApiHandlerRole": {},
        "IngestHandlerRole": produce(topic),
        "ConsumerRole": dict(merged),
        "TopicProvisionerRole": create,
        "ProducerTokenRole": {},
        "WebsocketMessageRole": produce(topic),
        "WebsocketConnectRole": {},
        "WebsocketDisconnectRole": {},
        "BroadcasterRole": {},
        "SenderRole": {},
    }


def test_each_role_allows_exactly_the_msk_actions_its_code_performs(synthesised):
    env, _, template = synthesised
    for role, required in _required_kafka_actions(env).items():
        assert _kafka_grants(template, role) == required, role
    consumer = {a for s in _statements(template, "ConsumerRole") for a in _actions(s)}
    # the event source mapping itself (Lambda's MSK permissions page; DescribeClusterV2 is the one serverless needs)
    assert {
        "kafka:DescribeClusterV2",
        "kafka:GetBootstrapBrokers",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    } <= consumer


def test_no_function_can_start_before_its_permissions_exist(synthesised):
    """Functions reference their roles, so permissions inline in a role exist before the function, the event
    source mapping or the topics resource: none of them can race a separately attached policy."""
    _, _, template = synthesised
    chalice_roles = {
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in resources(template, "AWS::Serverless::Function").values()
    }
    assert chalice_roles == {
        "ApiHandlerRole",
        "IngestHandlerRole",
        "ConsumerRole",
        "ProducerTokenRole",
        "TopicProvisionerRole",
        "WebsocketConnectRole",
        "WebsocketMessageRole",
        "WebsocketDisconnectRole",
        "BroadcasterRole",
        "SenderRole",
    }
    attached = [json.dumps(p["Properties"].get("Roles")) for p in resources(template, "AWS::IAM::Policy").values()]
    assert not [role for role in chalice_roles if any(role in roles for roles in attached)]
    for role in chalice_roles:
        actions = {a for s in _statements(template, role) for a in _actions(s)}
        assert (set(VPC_ENI_ACTIONS) <= actions) is (role not in OUTSIDE_VPC_ROLES), role


def test_api_gateway_has_its_cloudwatch_logs_role_before_the_api_is_created(dev):
    _, template = dev
    ((account_id, account),) = resources(template, "AWS::ApiGateway::Account").items()
    assert account["DeletionPolicy"] == "Retain"  # an account-wide setting that other APIs may rely on
    role = template.to_json()["Resources"][account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    assert account_id in resources(template, "AWS::Serverless::Api")["RestAPI"]["DependsOn"]


def test_every_function_runs_on_the_current_python_runtime(synthesised):
    _, _, template = synthesised
    runtimes = {f["Properties"]["Runtime"] for f in resources(template, "AWS::Serverless::Function").values()}
    assert runtimes == {RUNTIME}


def test_the_event_source_retries_failed_batches_rather_than_skip_them(synthesised):
    """No destination and no retry limit (MaximumRetryAttempts' default, -1, retries for ever): skipping a batch
    would lose acknowledged events. Provisioned pollers where the environment sets them."""
    env, _, template = synthesised
    mapping = _msk_mapping(template)["Properties"]
    assert not {"DestinationConfig", "MaximumRetryAttempts", "BisectBatchOnFunctionError"} & set(mapping)
    pollers = StackConfig.load(env).consumer["pollers"]
    if pollers is None:
        assert "ProvisionedPollerConfig" not in mapping
    else:
        assert mapping["ProvisionedPollerConfig"] == {
            "MinimumPollers": pollers["minimum"],
            "MaximumPollers": pollers["maximum"],
        }


def test_every_route_is_throttled_and_each_busy_function_has_its_own_reserved_concurrency(synthesised):
    env, _, template = synthesised
    config = StackConfig.load(env)
    api = only(template, "AWS::Serverless::Api")
    limits = {
        (m["ResourcePath"], m["HttpMethod"]): (m["ThrottlingRateLimit"], m["ThrottlingBurstLimit"])
        for m in api["MethodSettings"]
    }
    ingest = (config.api["ingest_rate_limit"], config.api["ingest_burst_limit"])
    assert limits == {
        ("/~1events", "POST"): ingest,
        ("/~1matches~1{match_id}~1events~1{event_type}", "DELETE"): ingest,
        ("/*", "*"): (config.api["read_rate_limit"], config.api["read_burst_limit"]),
    }
    (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": config.api["websocket_rate_limit"],
        "ThrottlingBurstLimit": config.api["websocket_burst_limit"],
    }
    functions = template.to_json()["Resources"]
    reserved = {
        name: functions[name]["Properties"].get("ReservedConcurrentExecutions")
        for name in ("IngestHandler", "APIHandler", "Consumer", "Broadcaster", "Sender")
    }
    wanted = config.functions["reserved_concurrency"]
    assert reserved == {
        "IngestHandler": wanted.get("ingest"),
        "APIHandler": wanted.get("reads"),
        "Consumer": wanted.get("consumer"),
        "Broadcaster": wanted.get("broadcaster"),
        "Sender": wanted.get("sender"),
    }
    if wanted:
        assert sum(wanted.values()) <= 1000 - 100  # Lambda keeps 100 of the default 1,000 unreserved
        assert wanted["consumer"] >= config.topic["partitions"]  # one concurrent batch per partition


def test_the_producer_routes_run_in_a_function_of_their_own(dev):
    _, template = dev
    paths = only(template, "AWS::Serverless::Api")["DefinitionBody"]["paths"]

    def target(path, method):
        return paths[path][method]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].split("${")[-1]

    assert target("/events", "post") == "IngestHandler.Arn}/invocations"
    assert target("/matches/{match_id}/events/{event_type}", "delete") == "IngestHandler.Arn}/invocations"
    assert target("/matches/{match_id}", "get") == "APIHandler.Arn}/invocations"
    assert target("/matches", "get") == "APIHandler.Arn}/invocations"
    functions = template.to_json()["Resources"]
    assert functions["IngestHandler"]["Properties"]["Handler"] == functions["APIHandler"]["Properties"]["Handler"]
    permission = next(
        p
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": "IngestHandler"}
    )
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_an_alarm_fires_when_events_are_accepted_but_the_consumer_never_runs(dev):
    _, template = dev
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if "ConsumerNotConsuming" in a["Properties"]["AlarmDescription"]
    ]
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    expression = queries.pop(next(i for i, q in queries.items() if "Expression" in q))["Expression"]
    assert "FILL(invocations, 0) == 0" in expression and "FILL(posts, 0)" in expression
    metrics = {
        i: (q["MetricStat"]["Metric"]["MetricName"], json.dumps(q["MetricStat"]["Metric"]["Dimensions"]))
        for i, q in queries.items()
    }
    assert metrics["posts"][0] == "Count" and '"/events"' in metrics["posts"][1]
    assert metrics["invocations"][0] == "Invocations" and "Consumer" in metrics["invocations"][1]
    assert alarm["AlarmActions"] and alarm["Threshold"] == 0


def test_producer_token_is_a_secret_read_only_by_the_functions_that_check_a_token(dev):
    _, template = dev
    assert resources(template, "AWS::SecretsManager::Secret")
    readers = [
        r
        for r in (
            "ApiHandlerRole",
            "IngestHandlerRole",
            "ConsumerRole",
            "ProducerTokenRole",
            "TopicProvisionerRole",
            "WebsocketConnectRole",
            "WebsocketMessageRole",
            "WebsocketDisconnectRole",
            "BroadcasterRole",
            "SenderRole",
        )
        if "secretsmanager:GetSecretValue" in json.dumps(_statements(template, r))
    ]
    assert readers == ["IngestHandlerRole", "ProducerTokenRole", "WebsocketConnectRole", "WebsocketMessageRole"]


def test_the_authorizer_refuses_a_malformed_authorization_header_before_it_runs(dev):
    _, template = dev
    api = only(template, "AWS::Serverless::Api")
    authorizer = api["DefinitionBody"]["securityDefinitions"]["producer_token"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert authorizer["identityValidationExpression"] == security.IDENTITY_VALIDATION_EXPRESSION
    assert "authorizerUri" in authorizer


def test_ingest_is_throttled_and_access_logged(dev):
    _, template = dev
    api = only(template, "AWS::Serverless::Api")
    ingest = next(m for m in api["MethodSettings"] if m["ResourcePath"] == "/~1events")
    assert (ingest["HttpMethod"], ingest["ThrottlingRateLimit"], ingest["ThrottlingBurstLimit"]) == ("POST", 100, 200)
    assert "$context.status" in api["AccessLogSetting"]["Format"]


@pytest.mark.parametrize(
    ("namespace", "metric"),
    [
        ("AWS/Lambda", "OffsetLag"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5XXError"),
        ("FootballMatchData", "DeadLetteredRecords"),
        ("AWS/Lambda", "IteratorAge"),
        ("FootballMatchData", "FailedBroadcasts"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ],
)
def test_alarms_watch_lag_errors_throttles_5xx_and_dead_letters(dev, namespace, metric):
    _, template = dev
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    matching = [a for a in alarms if a.get("Namespace") == namespace and a.get("MetricName") == metric]
    assert matching and all(a["AlarmActions"] for a in matching)
    assert resources(template, "AWS::CloudWatch::Dashboard")


def test_outputs_name_the_api_url_table_topic_and_cluster(dev):
    _, template = dev
    outputs = template.to_json()["Outputs"]
    assert {"ApiUrl", "WebSocketUrl", "TableName", "Topic", "ClusterArn"} <= set(outputs)
    assert "wss://${WebsocketAPI}.execute-api." in outputs["WebSocketUrl"]["Value"]["Fn::Sub"]
    api = resources(template, "AWS::Serverless::Function")["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["WEBSOCKET_URL"] == outputs["WebSocketUrl"]["Value"]  # where the match centre page connects
    assert outputs["ClusterArn"]["Value"] == {"Fn::GetAtt": ["Cluster", "Arn"]}


# -- live push -------------------------------------------------------------------------------------------------


def test_the_websocket_default_route_answers_with_the_handlers_body_and_is_access_logged(dev):
    """A route response makes $default two-way: subscribe, unsubscribe and publish answer without the
    Management API (which the VPC-attached message handler could not reach)."""
    _, template = dev
    route = named(template, "AWS::ApiGatewayV2::Route", "WebsocketMessageRoute")["Properties"]
    assert route["RouteKey"] == "$default" and route["RouteResponseSelectionExpression"] == "$default"
    ((response_id, response),) = resources(template, "AWS::ApiGatewayV2::RouteResponse").items()
    assert response["Properties"]["RouteId"] == {"Ref": "WebsocketMessageRoute"}
    assert response["Properties"]["RouteResponseKey"] == "$default"
    assert response_id in named(template, "AWS::ApiGatewayV2::Deployment", "WebsocketAPIDeployment")["DependsOn"]
    stage = named(template, "AWS::ApiGatewayV2::Stage", "WebsocketAPIStage")["Properties"]
    assert "$context.connectionId" in stage["AccessLogSettings"]["Format"]


def test_subscriptions_expire_by_ttl_with_keys_from_the_layout_module(dev):
    _, template = dev
    table = named(template, "AWS::DynamoDB::Table", "Subscriptions")["Properties"]
    assert table["KeySchema"] == layout.subscriptions_table_definition("any")["KeySchema"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": layout.EXPIRES_AT, "Enabled": True}


def test_the_broadcaster_reads_the_table_stream_bisects_retries_and_gives_up_to_a_queue(synthesised):
    _, _, template = synthesised
    (mapping,) = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    assert mapping["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
    assert mapping["EventSourceArn"]["Fn::GetAtt"][0].startswith("Events")
    assert "Broadcaster" in json.dumps(mapping["FunctionName"])
    assert (mapping["BisectBatchOnFunctionError"], mapping["MaximumRetryAttempts"], mapping["BatchSize"]) == (
        True,
        broadcast.RETRY_ATTEMPTS,
        broadcast.BATCH_SIZE,
    )
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert queue.startswith("BroadcastFailures")


def test_only_the_broadcaster_and_the_sender_push_and_only_to_this_websocket_api(dev):
    _, template = dev
    pushers = [
        r
        for r in template.to_json()["Resources"]
        if r.endswith("Role")
        and "Policies" in template.to_json()["Resources"][r].get("Properties", {})
        and "execute-api:ManageConnections" in json.dumps(_statements(template, r))
    ]
    assert sorted(pushers) == ["BroadcasterRole", "SenderRole"]
    sender = {s.get("Sid"): s for s in _statements(template, "SenderRole")}
    assert sender["PushToConnections"]["Resource"]["Fn::Sub"].endswith(":${WebsocketAPI}/api/POST/@connections/*")
    statements = {s.get("Sid"): s for s in _statements(template, "BroadcasterRole")}
    assert statements["PushToConnections"]["Resource"]["Fn::Sub"].endswith(":${WebsocketAPI}/api/POST/@connections/*")
    assert statements["ReadStream"]["Resource"]["Fn::GetAtt"][1] == "StreamArn"
    assert statements["GiveUpOnRecords"]["Resource"]["Fn::GetAtt"][0].startswith("BroadcastFailures")
    variables = resources(template, "AWS::Serverless::Function")["Broadcaster"]["Properties"]["Environment"][
        "Variables"
    ]
    assert variables["WEBSOCKET_API_ID"] == {"Ref": "WebsocketAPI"} and variables["WEBSOCKET_STAGE"] == "api"


def test_cloudwatch_may_publish_to_the_alarm_topic_over_tls_only(dev):
    _, template = dev
    ((_, policy),) = resources(template, "AWS::SNS::TopicPolicy").items()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert [(s["Principal"], s["Action"]) for s in allow] == [({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish")]
    assert allow[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    assert all(a["AlarmActions"] == [{"Ref": policy["Properties"]["Topics"][0]["Ref"]}] for a in alarms)


def test_failed_pushes_the_websocket_api_and_its_functions_have_alarms(dev):
    _, template = dev
    alarms = {
        a["Properties"]["AlarmDescription"].split(":")[0]: a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms["FailedPushes"]["MetricName"] == "FailedPushes"
    for name in ("WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect"):
        alarm = alarms[f"{name}Errors"]
        assert alarm["MetricName"] == "Errors" and name in json.dumps(alarm["Dimensions"])
    api = alarms["WebSocketApiErrors"]
    metrics = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"] for m in api["Metrics"] if "MetricStat" in m
    }
    assert set(metrics) == {"ExecutionError", "IntegrationError"}
    dimensions = {d["Name"]: d["Value"] for d in metrics["ExecutionError"]["Dimensions"]}
    assert dimensions == {"ApiId": {"Ref": "WebsocketAPI"}, "Stage": "api"}


def test_the_cdn_caches_each_read_as_the_api_says_and_keys_only_the_parameters_that_change_it(dev):
    _, template = dev
    (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    policies = {
        logical_id: p["Properties"]["CachePolicyConfig"]
        for logical_id, p in resources(template, "AWS::CloudFront::CachePolicy").items()
    }

    def cached(behaviour):
        policy = policies[behaviour["CachePolicyId"]["Ref"]]
        strings = policy["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]
        return (policy["DefaultTTL"], policy["MinTTL"], policy["MaxTTL"], tuple(strings.get("QueryStrings", ())))

    by_path = {b["PathPattern"]: cached(b) for b in config["CacheBehaviors"]}
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == [rule.path for rule in caching.BEHAVIOURS]
    for rule in caching.BEHAVIOURS:
        assert by_path[rule.path] == (rule.max_age, 0, caching.IMMUTABLE_MAX_AGE, rule.query)
    assert cached(config["DefaultCacheBehavior"])[0] == caching.DEFAULT.max_age
    assert all(b["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"] for b in config["CacheBehaviors"])
    (origin,) = config["Origins"]
    assert origin["OriginPath"] == "/api" and "RestAPI" in json.dumps(origin["DomainName"])
    assert "CdnUrl" in template.to_json()["Outputs"]


def test_a_regional_web_acl_with_rate_rules_guards_the_api_stage(synthesised):
    env, _, template = synthesised
    (acl,) = resources(template, "AWS::WAFv2::WebACL").values()
    assert acl["Properties"]["Scope"] == "REGIONAL"  # deployable from any region; CLOUDFRONT scope is us-east-1 only
    rules = {r["Name"]: r["Statement"]["RateBasedStatement"] for r in acl["Properties"]["Rules"]}
    waf = StackConfig.load(env).waf
    assert rules["PerViewer"]["AggregateKeyType"] == "FORWARDED_IP"
    assert rules["PerViewer"]["Limit"] == waf["viewer_requests_per_5_minutes"]
    assert rules["PerSender"] == {"AggregateKeyType": "IP", "Limit": waf["sender_requests_per_5_minutes"]}
    (association,) = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    assert "/restapis/${RestAPI}/stages/api" in json.dumps(association["Properties"]["ResourceArn"])
    assert association["DependsOn"] == ["RestAPIapiStage"]


def test_a_big_matchs_shards_go_through_a_fifo_queue_to_the_sender_in_order_and_concurrently(synthesised):
    env, _, template = synthesised
    queues = resources(template, "AWS::SQS::Queue")
    (fanout_id,) = [q for q in queues if q.startswith("Fanout") and "DeadLetters" not in q]
    fanout = queues[fanout_id]["Properties"]
    assert fanout["FifoQueue"] is True and fanout["DeduplicationScope"] == "messageGroup"
    assert fanout["RedrivePolicy"]["maxReceiveCount"] == 5
    mapping = next(
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [fanout_id, "Arn"]}
    )
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": StackConfig.load(env).functions["sender_concurrency"]}
    functions = template.to_json()["Resources"]
    assert functions["Broadcaster"]["Properties"]["Environment"]["Variables"]["FANOUT_QUEUE_URL"] == {"Ref": fanout_id}
    queue_shards = {s.get("Sid"): s for s in _statements(template, "BroadcasterRole")}["QueueShards"]
    assert queue_shards["Action"] == "sqs:SendMessage" and queue_shards["Resource"] == {
        "Fn::GetAtt": [fanout_id, "Arn"]
    }
    sender = {s.get("Sid"): s for s in _statements(template, "SenderRole")}
    assert "sqs:ReceiveMessage" in sender["FanoutJobs"]["Action"]


def iam_table(template) -> str:
    """The docs' table of what each function's role may do (ec2 network interfaces and logs left out), as the
    template grants it."""
    rows = ["| role | may |", "|---|---|"]
    for name, resource in sorted(template.to_json()["Resources"].items()):
        if resource["Type"] != "AWS::IAM::Role" or not resource["Properties"].get("Policies"):
            continue
        by_service = defaultdict(set)
        for statement in _statements(template, name):
            for action in _actions(statement):
                service, _, verb = action.partition(":")
                if service not in ("ec2", "logs"):
                    by_service[service].add(verb)
        may = "; ".join(f"{s}: " + ", ".join(f"`{v}`" for v in sorted(by_service[s])) for s in sorted(by_service))
        rows.append(f"| {name.removesuffix('Role')} | {may} |")
    return "\n".join(rows)


def test_the_deploy_docs_iam_table_is_the_templates(dev):
    _, template = dev
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    documented = text.split("<!-- iam: start -->\n", 1)[1].split("\n<!-- iam: end -->", 1)[0]
    assert documented == iam_table(template), "docs/deploy.md's table should read:\n" + iam_table(template)
