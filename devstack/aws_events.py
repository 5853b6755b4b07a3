"""The events AWS hands the app's functions, in the exact shapes the services send them.

API Gateway REST proxy (payload 1.0) and TOKEN authorizer events, the
CloudFormation custom-resource event the CDK provider framework passes on,
DynamoDB Streams records of change items, and the MSK event of Kafka records,
built by ``devstack.event_source.msk_event`` as the local event source builds it.
"""

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from chalicelib import layout
from devstack import event_source

API_ID, STAGE, ACCOUNT, REGION = "a1b2c3d4e5", "api", "123456789012", "eu-west-1"
TOPIC = "match-events"


def rest_api_event(
    method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: Any = None,
    principal_id: str | None = None,
) -> dict[str, Any]:
    """A REST API Lambda proxy integration event for ``resource`` (e.g. ``/matches/{match_id}``)."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    headers = {
        "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "X-Forwarded-Proto": "https",
        "User-Agent": "package-test",
    } | (headers or {})
    multi_query = parse_qs(query) or None
    now = time.time()
    context = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": headers["Host"],
        "domainPrefix": API_ID,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "httpMethod": method,
        "identity": {
            "sourceIp": "203.0.113.7",
            "userAgent": headers["User-Agent"],
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
        },
        "path": f"/{STAGE}{path}",
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "resourceId": "abc123",
        "resourcePath": resource,
        "stage": STAGE,
    }
    if principal_id:
        context["authorizer"] = {"principalId": principal_id, "integrationLatency": 3}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def token_authorizer_event(token: str, method: str = "POST", resource: str = "/events") -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": token,
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{resource}",
    }


def custom_resource_event(request_type: str, resource_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """As CloudFormation sends it (numbers arrive as strings), less nothing the handler may read."""
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/football-dev/{uuid.uuid4()}"
    return {
        "RequestType": request_type,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:provider",
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": stack,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "Topics",
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": "provider"} | properties,
    }


def change_record(match_id: str, seq: int, changes: list[dict[str, Any]], sequence_number: int) -> dict[str, Any]:
    """A DynamoDB Streams record, as Lambda delivers it, of the consumer inserting change item ``seq``."""
    keys = {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.change_key(seq)}}
    image = keys | {layout.CHANGES: {"S": json.dumps(changes)}}
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/events/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": keys,
            "NewImage": image,
            "SequenceNumber": str(sequence_number),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def kafka_record(
    value: bytes, offset: int = 0, *, partition: int = 0, key: bytes | None = None, topic: str = TOPIC
) -> ConsumerRecord:
    """A record as the Kafka consumer returns it: any bytes, so a poison record too."""
    return ConsumerRecord(topic, partition, -1, offset, 0, 0, key, value, [], None, len(key or b""), len(value), -1)


def msk_event(*records: ConsumerRecord) -> dict[str, Any]:
    """The MSK event Lambda delivers ``records`` in, grouped by topic-partition."""
    batch: dict[TopicPartition, list[ConsumerRecord]] = {}
    for record in records:
        batch.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
    return event_source.msk_event(batch, "127.0.0.1:9092")
