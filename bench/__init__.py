"""Benchmarks and profiles of the pipeline on real local Kafka and the DynamoDB engine (make bench, make profile)."""
