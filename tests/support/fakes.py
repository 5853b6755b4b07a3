"""Fakes behind the small interfaces the app's services use, for unit tests of the HTTP and WebSocket edges."""

import os
from typing import Any

import pytest

import app
from chalicelib.services import Services


class RecordingPublisher:
    """The publisher's interface: records what it is given, publishes nothing."""

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.providers: list[str] = []

    def publish(self, events: Any, received_at: str, provider: str) -> None:
        self.published.append(events)
        self.providers.append(provider)


class EmptyDynamoDB:
    """The part of a boto3 DynamoDB client the reads use, answering as an empty table would."""

    def query(self, **_: Any) -> dict[str, Any]:
        return {"Items": [], "Count": 0}

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"Responses": {table: [] for table in RequestItems}}


def serve_with(monkeypatch: pytest.MonkeyPatch, **fakes: Any) -> None:
    """The app, for one test, on new services with these fakes given in place of the real ones."""
    monkeypatch.setattr(app, "services", Services(os.environ, **fakes))
