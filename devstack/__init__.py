"""Local stack: real Kafka, the local DynamoDB engine (moto behind `devstack.dynamodb`), the event sources."""
