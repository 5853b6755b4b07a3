"""Who follows which match over the WebSocket: the subscriptions table (keys in chalicelib.layout).

Written by the connect, message and disconnect handlers, read by the
broadcaster. A connection API Gateway dropped without a disconnect (or whose
disconnect was lost) leaves items behind: they expire by TTL, reads skip
expired ones, and the broadcaster forgets a connection as soon as API Gateway
says it is gone.
"""

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib import layout

if TYPE_CHECKING:  # the stubs are a development requirement, not packaged
    from mypy_boto3_dynamodb import DynamoDBClient

# API Gateway closes a WebSocket connection after 2 hours at most; a little more covers clock skew.
CONNECTION_TTL_SECONDS = 2 * 3600 + 600


class Subscriptions:
    def __init__(self, client: "DynamoDBClient", table: str, clock: Callable[[], float] = time.time) -> None:
        self.client, self.table, self.clock = client, table, clock
        self._producers: set[str] = set()  # connections this process saw connect as producers

    def _item(self, partition: str, sort: str, **extra: Any) -> dict[str, Any]:
        return self._key(partition, sort) | {
            layout.EXPIRES_AT: {"N": str(int(self.clock() + CONNECTION_TTL_SECONDS))},
            **extra,
        }

    def _key(self, partition: str, sort: str) -> dict[str, Any]:
        return {layout.SUBSCRIPTION_KEY: {"S": partition}, layout.SUBSCRIPTION_SORT_KEY: {"S": sort}}

    def connect(self, connection_id: str, *, producer: bool) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=self._item(layout.connection_key(connection_id), layout.CONNECTION_ITEM, producer={"BOOL": producer}),
        )
        if producer:
            self._producers.add(connection_id)

    def is_producer(self, connection_id: str) -> bool:
        """Whether the connection showed the producer token on connect (another process may have seen it)."""
        if connection_id not in self._producers:
            item = self.client.get_item(
                TableName=self.table,
                ConsistentRead=True,
                Key=self._key(layout.connection_key(connection_id), layout.CONNECTION_ITEM),
            ).get("Item", {})
            if not item.get("producer", {}).get("BOOL"):
                return False
            self._producers.add(connection_id)
        return True

    def subscribe(self, connection_id: str, match_id: str) -> None:
        connection, match = layout.connection_key(connection_id), layout.match_key(match_id)
        self._write(
            [
                {"PutRequest": {"Item": self._item(connection, match)}},
                {"PutRequest": {"Item": self._item(match, connection)}},
            ]
        )

    def unsubscribe(self, connection_id: str, match_id: str) -> None:
        connection, match = layout.connection_key(connection_id), layout.match_key(match_id)
        self._write(
            [
                {"DeleteRequest": {"Key": self._key(connection, match)}},
                {"DeleteRequest": {"Key": self._key(match, connection)}},
            ]
        )

    def connections(self, match_id: str) -> list[str]:
        """The live connections subscribed to the match."""
        prefix = len(layout.connection_key(""))
        return [item[layout.SUBSCRIPTION_SORT_KEY]["S"][prefix:] for item in self._query(layout.match_key(match_id))]

    def forget(self, connection_id: str) -> None:
        """Remove the connection and all its subscriptions (on disconnect, or when it is gone)."""
        connection = layout.connection_key(connection_id)
        requests = []
        for item in self._query(connection, live_only=False):
            sort = item[layout.SUBSCRIPTION_SORT_KEY]["S"]
            requests.append({"DeleteRequest": {"Key": self._key(connection, sort)}})
            if sort != layout.CONNECTION_ITEM:
                requests.append({"DeleteRequest": {"Key": self._key(sort, connection)}})
        for start in range(0, len(requests), 25):
            self._write(requests[start : start + 25])
        self._producers.discard(connection_id)

    def _query(self, partition: str, live_only: bool = True) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": layout.SUBSCRIPTION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        if live_only:  # TTL deletes expired items within days, not at once
            params["FilterExpression"] = "#expires > :now"
            params["ExpressionAttributeNames"]["#expires"] = layout.EXPIRES_AT
            params["ExpressionAttributeValues"][":now"] = {"N": str(int(self.clock()))}
        while True:
            response = self.client.query(**params)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table: requests}
        for attempt in range(8):
            pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError("DynamoDB kept some subscription writes unprocessed")
