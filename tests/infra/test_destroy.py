"""make destroy's retry: botocore's Stubber stands in for EC2 and CloudFormation (no account here)."""

import boto3
from botocore.stub import Stubber

from infra.destroy import destroy

VPC = "vpc-0123456789abcdef0"
FILTERS = [{"Name": "vpc-id", "Values": [VPC]}, {"Name": "interface-type", "Values": ["lambda"]}]


def interface(eni_id, status):
    return {"NetworkInterfaceId": eni_id, "Status": status}


def clients():
    cloudformation = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return cloudformation, Stubber(cloudformation), ec2, Stubber(ec2)


def stack_with_vpc(cfn_stub):
    cfn_stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "football-dev",
                    "CreationTime": "2026-11-25T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": "VpcId", "OutputValue": VPC}],
                }
            ]
        },
        {"StackName": "football-dev"},
    )


def test_a_failed_deletion_waits_for_lambda_to_release_its_interfaces_deletes_them_and_retries():
    cloudformation, cfn_stub, ec2, ec2_stub = clients()
    stack_with_vpc(cfn_stub)
    ec2_stub.add_response(
        "describe_network_interfaces",
        {"NetworkInterfaces": [interface("eni-1", "in-use"), interface("eni-2", "available")]},
        {"Filters": FILTERS},
    )
    ec2_stub.add_response("delete_network_interface", {}, {"NetworkInterfaceId": "eni-2"})
    ec2_stub.add_response(
        "describe_network_interfaces", {"NetworkInterfaces": [interface("eni-1", "available")]}, {"Filters": FILTERS}
    )
    ec2_stub.add_response("delete_network_interface", {}, {"NetworkInterfaceId": "eni-1"})
    outcomes, sleeps = iter([1, 0]), []
    with cfn_stub, ec2_stub:
        code = destroy(
            "football-dev", lambda: next(outcomes), cloudformation, ec2, sleep=sleeps.append, say=lambda _: None
        )
    assert code == 0 and sleeps == [30.0]
    ec2_stub.assert_no_pending_responses()


def test_it_gives_up_when_interfaces_stay_attached_past_the_wait():
    cloudformation, cfn_stub, ec2, ec2_stub = clients()
    stack_with_vpc(cfn_stub)
    for _ in range(2):
        ec2_stub.add_response(
            "describe_network_interfaces", {"NetworkInterfaces": [interface("eni-1", "in-use")]}, {"Filters": FILTERS}
        )
    clock = iter([0.0, 0.0, 100.0])
    with cfn_stub, ec2_stub:
        code = destroy(
            "football-dev",
            lambda: 1,
            cloudformation,
            ec2,
            timeout_s=60,
            sleep=lambda _: None,
            clock=lambda: next(clock),
            say=lambda _: None,
        )
    assert code == 1
