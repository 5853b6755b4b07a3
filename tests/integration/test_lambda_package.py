"""The Lambda package the stack deploys, run as Lambda runs it, against the real local stack.

The package is built by the CDK app exactly as `make synth`/`make deploy` build
it, unzipped into an empty directory, and imported by a fresh interpreter that
sees only that directory, the standard library and the AWS SDK that Lambda's
Python runtime provides (devstack/lambda_runtime.py), with the runtime's
Python where this machine has it (infra/package.py's ``runtime_python``). Every
function in the template runs under AWS's runtime interface client
(awslambdaric) behind AWS's runtime interface emulator (aws-lambda-rie), and is
invoked with the events AWS sends it.
"""

import ast
import contextlib
import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from websockets.exceptions import InvalidStatus

from chalicelib import fanout, messages
from devstack import lambda_runtime
from devstack.aws_events import (
    change_record,
    custom_resource_event,
    msk_event,
    rest_api_event,
    token_authorizer_event,
)
from devstack.stack import LocalStack, ensure_topic, free_port
from devstack.websocket_gateway import STAGE, LocalWebSocketGateway
from infra.app import build
from infra.package import CACHE_TAG, RUNTIME, runtime_python
from matchtools.live_client import LiveClient
from tests.support import TOKEN, eventually

# Standard-library modules that Python 3.12 and 3.13 removed (PEP 594, PEP 632, What's New): the functions run
# on python3.13, this machine has only 3.11.
REMOVED_BY_3_13 = {
    "aifc",
    "asynchat",
    "asyncore",
    "audioop",
    "cgi",
    "cgitb",
    "chunk",
    "crypt",
    "distutils",
    "imghdr",
    "imp",
    "lib2to3",
    "mailcap",
    "msilib",
    "nis",
    "nntplib",
    "ossaudiodev",
    "pipes",
    "smtpd",
    "sndhdr",
    "spwd",
    "sunau",
    "telnetlib",
    "uu",
    "xdrlib",
}


class Package:
    """The deployment package, unzipped, and the template that deploys it."""

    def __init__(self, work: Path) -> None:
        with contextlib.chdir(work):
            build("dev", str(work / "cdk.out"))
        (package_dir,) = (work / "chalice.out").glob("*/")
        self.zip = package_dir / "deployment.zip"
        self.template = json.loads((package_dir / "sam.json").read_text())
        self.task, self.runtime = lambda_runtime.lay_out(self.zip, work)

    def handlers(self) -> dict[str, str]:
        return {
            name: resource["Properties"]["Handler"]
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }

    def unzipped_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.task.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return Package(tmp_path_factory.mktemp("package"))


def test_the_package_is_pure_python_small_and_leaves_the_sdk_to_the_runtime(package):
    files = [f.relative_to(package.task) for f in package.task.rglob("*") if f.is_file()]
    assert not [f for f in files if f.suffix in (".so", ".pyd", ".dylib")]  # runs on any CPython 3 runtime
    assert not {f.parts[0] for f in files} & {"boto3", "botocore", "s3transfer", "urllib3", "dateutil"}
    zipped, unzipped = package.zip.stat().st_size, package.unzipped_bytes()
    print(f"\nLambda package: {zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped, {len(files)} files")
    assert zipped < 5_000_000 and unzipped < 15_000_000  # was 19.4 MB / 30.5 MB with the SDK bundled


def test_every_file_in_the_package_is_readable_by_the_runtimes_user(package):
    # Lambda keeps the zip's modes, and Python silently compiles the source when it cannot read the bytecode
    with zipfile.ZipFile(package.zip) as archive:
        unreadable = [i.filename for i in archive.infolist() if (i.external_attr >> 16) & 0o444 != 0o444]
    assert unreadable == []


@pytest.mark.skipif(runtime_python() is None, reason=f"no {RUNTIME} here: the package ships no bytecode")
def test_the_package_ships_the_bytecode_the_runtime_imports_instead_of_compiling(package, tmp_path):
    sources = {f.relative_to(package.task) for f in package.task.rglob("*.py")}
    bytecode = package.task.rglob(f"__pycache__/*.{CACHE_TAG}.pyc")
    compiled = {f.parent.parent.relative_to(package.task) / f"{f.name.split('.')[0]}.py" for f in bytecode}
    assert sources == compiled
    # unchecked-hash bytecode: the runtime never reads the source, so an unreadable one changes nothing
    task = shutil.copytree(package.task, tmp_path / "task")
    (task / "app.py").write_text("raise SystemExit('the source was compiled')\n")
    loaded = "import app; print('chalicelib.services' in sys.modules)"
    answer = subprocess.run(
        lambda_runtime.importing(task, package.runtime, statement=loaded), capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip() == "True"


def test_the_package_imports_no_module_that_python_3_13_removed(package):
    imported: dict[str, set[str]] = {}
    for source in package.task.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_bytes())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(str(source.relative_to(package.task)))
    assert {name: files for name, files in imported.items() if name in REMOVED_BY_3_13} == {}


def test_every_function_runs_from_the_package_alone(package, stack: LocalStack, environ, tmp_path):
    bootstrap = stack.endpoints.bootstrap_servers
    topic = f"package-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=1)
    function_env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "package-test",
        "LANG": "C.UTF-8",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DYNAMODB_ENDPOINT_URL": stack.endpoints.dynamodb_endpoint_url,
        "EVENTS_TOPIC": topic,
        "EVENTS_DEAD_LETTER_TOPIC": environ["EVENTS_DEAD_LETTER_TOPIC"],
        "EVENTS_TABLE": environ["EVENTS_TABLE"],
        "INGEST_TOKEN": TOKEN,
        "KAFKA_ACK_TIMEOUT_SECONDS": "5",
        "SUBSCRIPTIONS_TABLE": environ["SUBSCRIPTIONS_TABLE"],
    }
    management_port = free_port()
    function_env["WEBSOCKET_ENDPOINT_URL"] = f"http://127.0.0.1:{management_port}/{STAGE}"
    handlers = package.handlers()
    log = (tmp_path / "lambda.log").open("w")
    runtime = lambda_runtime.Emulated(package.task, package.runtime, function_env, log)
    try:
        # the authorizer: API Gateway's TOKEN event; an error "Unauthorized" is what API Gateway turns into 401
        allowed = runtime.invoke(handlers["ProducerToken"], token_authorizer_event(f"Bearer {TOKEN}"))
        assert allowed["result"]["principalId"] == "default"  # the provider INGEST_TOKEN speaks for
        assert allowed["result"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        denied = runtime.invoke(handlers["ProducerToken"], token_authorizer_event("Bearer wrong"))
        assert denied["errorMessage"] == "Unauthorized"

        # POST /events through the REST proxy event, as API Gateway passes it after the authorizer
        match_id = f"pkg-{uuid.uuid4().hex[:6]}"
        events = [
            {"match_id": match_id, "event_type": "kick_off", "timestamp": "2026-05-01T15:00:00Z", "period": 1},
            {
                "match_id": match_id,
                "event_type": "pass",
                "timestamp": "2026-05-01T15:00:03Z",
                "team_id": "home",
                "player_id": "p8",
                "event_id": "e-pass",
            },
            {
                "match_id": match_id,
                "event_type": "goal",
                "timestamp": "2026-05-01T15:09:12Z",
                "team_id": "home",
                "player_id": "p9",
                "event_id": "e-goal",
            },
        ]
        api = handlers["APIHandler"]
        posted = runtime.invoke(
            api,
            rest_api_event(
                "POST",
                "/events",
                body={"events": events},
                principal_id="producer",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            ),
        )["result"]
        assert posted["statusCode"] == 202, posted
        assert json.loads(posted["body"])["accepted"] == 3

        # the consumer: the MSK event for what the API published, plus one record that can never be stored
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records = consumer.poll(timeout_ms=10_000)[partition]
        consumer.close()
        poison = records[-1]._replace(offset=records[-1].offset + 1, value=b"not json")
        summary = runtime.invoke(handlers["Consumer"], msk_event(*records, poison))["result"]
        assert summary == {"records": 2, "events": 3, "stored": 3, "duplicates": 0, "dead_lettered": 1}

        # every read route
        def get(resource: str, query: str = "", **path: str) -> tuple[int, Any]:
            response = runtime.invoke(api, rest_api_event("GET", resource, path, query=query))["result"]
            return response["statusCode"], json.loads(response["body"])

        assert get("/health") == (200, {"status": "ok"})
        page = runtime.invoke(api, rest_api_event("GET", "/"))["result"]  # the match centre, packaged with the app
        assert page["statusCode"] == 200 and "<title>Match centre</title>" in page["body"]
        script = runtime.invoke(api, rest_api_event("GET", "/assets/{name}", {"name": "app.js"}))["result"]
        assert script["statusCode"] == 200 and script["headers"]["Content-Type"].startswith("text/javascript")
        status, timeline = get("/matches/{match_id}", match_id=match_id)
        assert status == 200 and [e["event_type"] for e in timeline["events"]] == ["kick_off", "pass", "goal"]
        status, latest = get("/matches/{match_id}", "order=desc&limit=1", match_id=match_id)
        assert [e["event_id"] for e in latest["events"]] == ["e-goal"] and latest["next_cursor"]
        assert [e["event_id"] for e in get("/matches/{match_id}/goals", match_id=match_id)[1]["events"]] == ["e-goal"]
        assert [e["event_id"] for e in get("/matches/{match_id}/passes", match_id=match_id)[1]["events"]] == ["e-pass"]
        by_type = get("/matches/{match_id}/events/{event_type}", match_id=match_id, event_type="kick_off")[1]
        assert by_type["count"] == 1
        assert get("/matches/{match_id}/events/{event_type}", match_id=match_id, event_type="nope")[0] == 400
        status, stats = get("/matches/{match_id}/stats", match_id=match_id)
        assert (status, stats["score"], stats["event_count"]) == (200, {"home": 1}, 3)

        # the topic provisioner, as the CloudFormation custom resource calls it
        new_topic = f"provisioned-{uuid.uuid4().hex[:8]}"
        created = runtime.invoke(
            handlers["TopicProvisioner"],
            custom_resource_event(
                "Create", "Custom::KafkaTopics", {"Topics": [{"Name": new_topic, "Partitions": "2"}]}
            ),
        )
        assert created["result"]["PhysicalResourceId"] == new_topic
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        assert new_topic in admin.list_topics()
        admin.close()

        # the WebSocket API's functions behind devstack's gateway, the broadcaster pushing through its
        # Management API
        gateway = LocalWebSocketGateway(
            runtime.function(handlers["WebsocketConnect"]),
            runtime.function(handlers["WebsocketMessage"]),
            runtime.function(handlers["WebsocketDisconnect"]),
            port=free_port(),
            management_port=management_port,
        ).start()
        try:
            with pytest.raises(InvalidStatus) as refused:
                LiveClient(gateway.url, "wrong-token")
            assert refused.value.response.status_code == 401
            with LiveClient(gateway.url) as fan:
                assert fan.subscribe(match_id)["stats"]["score"] == {"home": 1}
                change = {"change": "update", "event": events[1] | {"version": 2}}
                pushed = runtime.invoke(handlers["Broadcaster"], {"Records": [change_record(match_id, 9, [change], 1)]})
                assert pushed["result"] == {"batchItemFailures": []}
                assert fan.until(lambda m: m["type"] == "change")["cursor"] == "000000000009.000"
                # a big match's shards, as the fan-out queue hands them to the sender
                queued = fanout.jobs(match_id, [messages.change(match_id, change | {"cursor": "000000000010.000"})])
                sent = runtime.invoke(handlers["Sender"], fanout.sqs_event(queued))
                assert sent["result"] == {"batchItemFailures": []}
                assert fan.until(lambda m: m["type"] == "change")["cursor"] == "000000000010.000"
            with LiveClient(gateway.url, TOKEN) as producer:
                answer = producer.ask({"action": "publish", "events": [events[0] | {"match_id": f"{match_id}-ws"}]})
                assert answer["type"] == "accepted"
            assert eventually(lambda: handlers["WebsocketDisconnect"] in runtime.invoked, timeout=30)
        finally:
            gateway.stop()

        assert runtime.invoked == set(handlers.values())
    finally:
        runtime.close()
        log.close()
    reports = (tmp_path / "lambda.log").read_text()
    assert reports.count("REPORT RequestId:") >= len(handlers) and "Init Duration" in reports  # the emulator's
