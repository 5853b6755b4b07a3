import pytest

from chalicelib.config import Settings
from chalicelib.publishing import MSKIamTokens, producer_config


def test_local_broker_is_plaintext_durable_and_idempotent():
    config = producer_config(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "a:9092,b:9092"}))
    assert config["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert (config["acks"], config["enable_idempotence"]) == ("all", True)
    assert "security_protocol" not in config


def test_msk_uses_iam_over_tls():
    config = producer_config(Settings.from_env({"KAFKA_AUTH": "msk_iam", "AWS_REGION": "eu-west-1"}))
    assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "OAUTHBEARER")
    assert isinstance(config["sasl_oauth_token_provider"], MSKIamTokens)
    assert config["sasl_oauth_token_provider"].region == "eu-west-1"


def test_ack_timeout_bounds_how_long_a_request_can_block():
    config = producer_config(Settings.from_env({"KAFKA_ACK_TIMEOUT_SECONDS": "2.5"}))
    assert config["max_block_ms"] == config["request_timeout_ms"] == 2500


def test_unknown_kafka_auth_is_a_configuration_error():
    with pytest.raises(ValueError, match="KAFKA_AUTH"):
        Settings.from_env({"KAFKA_AUTH": "sasl_plain"})
