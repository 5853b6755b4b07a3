"""``make destroy``: delete the stack in one step, even while Lambda's network interfaces hold its VPC.

Lambda releases the network interfaces of VPC functions and of the MSK event
source some time after they are deleted. Until then CloudFormation cannot delete
the security groups and subnets they sit in, and the deletion ends in
DELETE_FAILED. This runs ``cdk destroy``; when it fails, it waits for the
stack's Lambda interfaces to be released, deletes the ones left detached, and
runs it again.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3

ATTEMPTS = 4
RELEASE_WAIT_S = 45 * 60  # Lambda can take tens of minutes to release a hyperplane ENI
POLL_S = 30.0


def lambda_interfaces(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "interface-type", "Values": ["lambda"]}]
    )
    return [interface for page in pages for interface in page["NetworkInterfaces"]]


def clear_lambda_interfaces(
    ec2: Any,
    vpc_id: str,
    *,
    timeout_s: float = RELEASE_WAIT_S,
    poll_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] = print,
) -> bool:
    """Delete detached Lambda interfaces in the VPC until none is left; False if some stay attached."""
    deadline = clock() + timeout_s
    while True:
        interfaces = lambda_interfaces(ec2, vpc_id)
        for interface in interfaces:
            if interface["Status"] == "available":
                say(f"deleting released Lambda interface {interface['NetworkInterfaceId']}")
                ec2.delete_network_interface(NetworkInterfaceId=interface["NetworkInterfaceId"])
        if all(i["Status"] == "available" for i in interfaces):
            return True
        if clock() >= deadline:
            return False
        say(f"waiting for Lambda to release {sum(i['Status'] != 'available' for i in interfaces)} interface(s)")
        sleep(poll_s)


def destroy(
    stack_name: str,
    run_cdk_destroy: Callable[[], int],
    cloudformation: Any,
    ec2: Any,
    attempts: int = ATTEMPTS,
    **waiting: Any,
) -> int:
    outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    vpc_id = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "VpcId"), None)
    for _ in range(attempts):
        if run_cdk_destroy() == 0:
            return 0
        if vpc_id is None or not clear_lambda_interfaces(ec2, vpc_id, **waiting):
            break
    return 1


def main() -> int:
    stack_name = f"football-{os.environ.get('DEPLOY_ENV', 'dev')}"
    command = ["npx", "--yes", "aws-cdk@2", "destroy", "--app", "cdk.out", "--force", stack_name]
    return destroy(stack_name, lambda: subprocess.call(command), boto3.client("cloudformation"), boto3.client("ec2"))


if __name__ == "__main__":
    sys.exit(main())
