"""Structured JSON logs and CloudWatch metrics (EMF), via Powertools for AWS Lambda.

Creating these does no I/O; metrics are flushed by ``metrics.log_metrics`` on
the handler. Logs carry match/event/offset context, never payloads at INFO.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Request

SERVICE = "football-match-data"
NAMESPACE = "FootballMatchData"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

__all__ = ["MetricUnit", "lambda_context_logging", "logger", "metrics"]


def lambda_context_logging(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: Powertools' ``inject_lambda_context`` (function name, request
    id, cold start on each log line), so no handler can forget it. A route's event is its Request, whose
    Lambda context is ``lambda_context``; every other event keeps it in ``context``."""
    context = event.lambda_context if isinstance(event, Request) else event.context
    if context is None:  # a handler called directly, outside any Lambda runtime
        return get_response(event)
    return logger.inject_lambda_context(lambda _event, _context: get_response(event))(event, context)
