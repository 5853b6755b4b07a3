"""The synthesised CloudFormation, asserted offline (no AWS account, no lookups)."""

import contextlib
import json
import os

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from chalicelib import layout
from infra.app import build
from infra.config import StackConfig

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


def test_synthesis_leaves_the_callers_environment_alone(tmp_path):
    before = dict(os.environ)
    synthesise("dev", tmp_path)
    assert dict(os.environ) == before


def test_no_unsuppressed_aws_solutions_findings(synthesised):
    _, stack, _ = synthesised
    annotations = Annotations.from_stack(stack)
    assert annotations.find_error("*", Match.string_like_regexp(".*AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp(".*AwsSolutions-.*")) == []


def test_region_and_sizes_come_from_configuration(synthesised):
    env, stack, template = synthesised
    config = StackConfig.load(env)
    assert stack.region == config.region
    assert only(template, "Custom::KafkaTopics")["Topics"][0]["Partitions"] == config.topic["partitions"]


def test_event_source_mapping_feeds_the_consumer_from_the_topic(dev):
    _, template = dev
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "EventSourceArn": {"Fn::GetAtt": ["Cluster", "Arn"]},
        "Topics": ["football-match-events"],
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 500,
        "MaximumBatchingWindowInSeconds": 1,
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "football-consumer"},
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [Match.string_like_regexp("FailedBatches"), "Arn"]}}},
        "FunctionName": Match.object_like({"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": ["Consumer", "Arn"]}]}]}),
    })
    mapping = next(iter(resources(template, "AWS::Lambda::EventSourceMapping").values()))
    assert "Topics" in mapping["DependsOn"]  # the topic exists before the consumer subscribes


def test_table_and_index_keys_come_from_the_layout_module(synthesised):
    env, _, template = synthesised
    table = only(template, "AWS::DynamoDB::Table")
    assert table["KeySchema"] == [{"AttributeName": layout.PARTITION_KEY, "KeyType": "HASH"},
                                  {"AttributeName": layout.SORT_KEY, "KeyType": "RANGE"}]
    (index,) = table["LocalSecondaryIndexes"]
    assert index["IndexName"] == layout.TYPE_INDEX
    assert index["KeySchema"][1] == {"AttributeName": layout.TYPE_SORT_KEY, "KeyType": "RANGE"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table.get("DeletionProtectionEnabled", False) is (env == "prod")


def test_msk_is_serverless_by_default_and_provisioned_as_an_option_both_with_iam_auth(synthesised):
    env, _, template = synthesised
    iam_auth = {"Sasl": {"Iam": {"Enabled": True}}}
    if env == "dev":
        cluster = only(template, "AWS::MSK::ServerlessCluster")
    else:
        cluster = only(template, "AWS::MSK::Cluster")
        assert cluster["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    assert cluster["ClientAuthentication"] == iam_auth


def test_every_app_function_runs_in_the_private_subnets(dev):
    _, template = dev
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {"APIHandler", "Consumer", "ProducerToken", "TopicProvisioner"}
    for properties in (f["Properties"] for f in functions.values()):
        vpc = properties["VpcConfig"]
        ((security_group, _),) = (sg["Fn::GetAtt"] for sg in vpc["SecurityGroupIds"])
        assert security_group.startswith("LambdaSg")
        assert all(s["Ref"].startswith("Vpcprivate") for s in vpc["SubnetIds"])
        assert properties["Environment"]["Variables"]["KAFKA_AUTH"] == "msk_iam"


def test_lambda_and_sts_are_reachable_from_private_subnets(dev):
    _, template = dev
    services = {json.dumps(e["Properties"]["ServiceName"]) for e in resources(template, "AWS::EC2::VPCEndpoint").values()}
    assert any(".lambda" in s for s in services) and any(".sts" in s for s in services)
    assert any(".dynamodb" in s for s in services) and any(".secretsmanager" in s for s in services)


def test_brokers_admit_only_the_app_and_the_event_source_on_the_iam_port(dev):
    _, template = dev
    ingress = [r["Properties"] for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"]["Fn::GetAtt"][0].startswith("MskSg")]
    assert {(i["FromPort"], i["ToPort"]) for i in ingress} == {(9098, 9098)}
    assert all("SourceSecurityGroupId" in i for i in ingress)


def test_topics_are_created_by_a_custom_resource_backed_by_the_apps_function(dev):
    _, template = dev
    topics = only(template, "Custom::KafkaTopics")
    assert [t["Name"] for t in topics["Topics"]] == ["football-match-events", "football-match-events-dlq"]
    provider = template.to_json()["Resources"][topics["ServiceToken"]["Fn::GetAtt"][0]]
    assert "TopicProvisioner" in json.dumps(provider["Properties"]["Environment"])


def _statements(template, role):
    policies = [p["Properties"] for p in resources(template, "AWS::IAM::Policy").values()
                if any(role in json.dumps(r) for r in p["Properties"]["Roles"])]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def test_kafka_permissions_are_scoped_to_the_cluster_topics_and_group(dev):
    _, template = dev
    for role in ("ApiHandlerRole", "ConsumerRole", "TopicProvisionerRole"):
        for statement in _statements(template, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("kafka") for a in actions):
                assert statement["Resource"] != "*" and "*" not in json.dumps(statement["Resource"])
                assert "kafka-cluster:*" not in actions
    api = json.dumps(_statements(template, "ApiHandlerRole"))
    consumer = json.dumps(_statements(template, "ConsumerRole"))
    assert "kafka-cluster:WriteData" in api and "kafka-cluster:ReadData" not in api
    assert "kafka-cluster:ReadData" in consumer and ":group/" in consumer and "sqs:SendMessage" in consumer
    assert "dynamodb:BatchWriteItem" in consumer and "dynamodb:PutItem" not in api


def test_producer_token_is_a_secret_only_the_authorizer_reads(dev):
    _, template = dev
    assert resources(template, "AWS::SecretsManager::Secret")
    readers = [r for r in ("ApiHandlerRole", "ConsumerRole", "ProducerTokenRole", "TopicProvisionerRole")
               if "secretsmanager:GetSecretValue" in json.dumps(_statements(template, r))]
    assert readers == ["ProducerTokenRole"]


def test_ingest_is_throttled_and_access_logged(dev):
    _, template = dev
    api = only(template, "AWS::Serverless::Api")
    ingest = next(m for m in api["MethodSettings"] if m["ResourcePath"] == "/~1events")
    assert (ingest["HttpMethod"], ingest["ThrottlingRateLimit"], ingest["ThrottlingBurstLimit"]) == ("POST", 100, 200)
    assert "$context.status" in api["AccessLogSetting"]["Format"]


@pytest.mark.parametrize(("namespace", "metric"), [
    ("AWS/Lambda", "OffsetLag"), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
    ("AWS/ApiGateway", "5XXError"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ("FootballMatchData", "DeadLetteredRecords"),
])
def test_alarms_watch_lag_errors_throttles_5xx_and_dead_letters(dev, namespace, metric):
    _, template = dev
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    matching = [a for a in alarms if a["Namespace"] == namespace and a["MetricName"] == metric]
    assert matching and all(a["AlarmActions"] for a in matching)
    assert resources(template, "AWS::CloudWatch::Dashboard")


def test_outputs_name_the_api_url_table_topic_and_cluster(dev):
    _, template = dev
    outputs = template.to_json()["Outputs"]
    assert {"ApiUrl", "TableName", "Topic", "ClusterArn"} <= set(outputs)
    assert outputs["ClusterArn"]["Value"] == {"Fn::GetAtt": ["Cluster", "Arn"]}
