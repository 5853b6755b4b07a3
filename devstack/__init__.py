"""Local stack: real Kafka and DynamoDB Local, and the local event source."""
