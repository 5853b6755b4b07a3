"""Structured JSON logs and CloudWatch metrics (EMF), via Powertools for AWS Lambda.

Creating these does no I/O; metrics are flushed by ``metrics.log_metrics`` on
the handler. Logs carry match/event/offset context, never payloads at INFO.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "football-match-data"
NAMESPACE = "FootballMatchData"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

__all__ = ["MetricUnit", "logger", "metrics"]
