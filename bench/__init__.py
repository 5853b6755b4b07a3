"""Benchmarks and profiles of the pipeline on real local Kafka and DynamoDB Local (make bench, make profile)."""
