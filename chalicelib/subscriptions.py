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
from chalicelib.config import DEFAULT_CACHE_ENTRIES
from chalicelib.errors import TooManySubscriptions
from chalicelib.lru import LRU

if TYPE_CHECKING:  # the stubs are a development requirement, not packaged
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import DeleteTypeDef, PutTypeDef, TransactWriteItemTypeDef, UpdateTypeDef

# API Gateway closes a WebSocket connection after 2 hours at most; a little more covers clock skew.
CONNECTION_TTL_SECONDS = 2 * 3600 + 600
MAX_SUBSCRIPTIONS = 50  # matches one connection follows: bounds what one anonymous client costs the broadcaster
SUBSCRIPTION_COUNT = "subscriptions"  # on the connection's own item
FAILED = "ConditionalCheckFailed"
PRODUCER_TOKEN = "token_sha256"  # on a producer connection's item: which token it showed
SORT_KEY_NAME = {"#sk": layout.SUBSCRIPTION_SORT_KEY}
QUERY_LIMIT = 1000  # items one Query reads at most (about 120 KB): every read is bounded


class Subscriptions:
    def __init__(
        self,
        client: "DynamoDBClient",
        table: str,
        clock: Callable[[], float] = time.time,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self.client, self.table, self.clock = client, table, clock
        self._producers: LRU[str, str] = LRU(cache_entries)  # producer connections seen: their token fingerprints

    def _item(self, partition: str, sort: str, **extra: Any) -> dict[str, Any]:
        return self._key(partition, sort) | {
            layout.EXPIRES_AT: {"N": str(int(self.clock() + CONNECTION_TTL_SECONDS))},
            **extra,
        }

    def _key(self, partition: str, sort: str) -> dict[str, Any]:
        return {layout.SUBSCRIPTION_KEY: {"S": partition}, layout.SUBSCRIPTION_SORT_KEY: {"S": sort}}

    def connect(self, connection_id: str, *, token_fingerprint: str | None) -> None:
        """Record the connection, with the fingerprint of the producer token it showed (None: a subscriber)."""
        extra: dict[str, Any] = {"producer": {"BOOL": token_fingerprint is not None}}
        if token_fingerprint:
            extra[PRODUCER_TOKEN] = {"S": token_fingerprint}
            self._producers[connection_id] = token_fingerprint
        self.client.put_item(
            TableName=self.table, Item=self._item(layout.connection_key(connection_id), layout.CONNECTION_ITEM, **extra)
        )

    def producer_token(self, connection_id: str) -> str | None:
        """The fingerprint of the producer token the connection showed on connect (another process may have
        seen it), or None for a subscriber."""
        if connection_id not in self._producers:
            item = self.client.get_item(
                TableName=self.table,
                ConsistentRead=True,
                Key=self._key(layout.connection_key(connection_id), layout.CONNECTION_ITEM),
            ).get("Item", {})
            if PRODUCER_TOKEN not in item:
                return None
            self._producers[connection_id] = item[PRODUCER_TOKEN]["S"]
        return self._producers.get(connection_id)

    def subscribe(self, connection_id: str, match_id: str) -> None:
        """Follow the match (again: nothing changes); TooManySubscriptions past MAX_SUBSCRIPTIONS. The count
        on the connection's item moves in the same transaction as the two subscription items."""
        connection, match = layout.connection_key(connection_id), layout.match_key(match_id)
        first: PutTypeDef = {
            "TableName": self.table,
            "Item": self._item(connection, match),
            "ConditionExpression": "attribute_not_exists(#sk)",
            "ExpressionAttributeNames": SORT_KEY_NAME,
        }
        followers = layout.subscriber_partition(match_id, connection_id)
        second: PutTypeDef = {"TableName": self.table, "Item": self._item(followers, connection)}
        reasons = self._transact([{"Put": first}, {"Put": second}], self._count(connection_id, +1))
        if reasons[2:3] == [FAILED] and reasons[:1] != [FAILED]:  # a match it already follows costs nothing
            raise TooManySubscriptions(f"a connection follows at most {MAX_SUBSCRIPTIONS} matches")

    def unsubscribe(self, connection_id: str, match_id: str) -> None:
        """Stop following the match (one it does not follow: nothing changes)."""
        connection, match = layout.connection_key(connection_id), layout.match_key(match_id)
        first: DeleteTypeDef = {
            "TableName": self.table,
            "Key": self._key(connection, match),
            "ConditionExpression": "attribute_exists(#sk)",
            "ExpressionAttributeNames": SORT_KEY_NAME,
        }
        followers = layout.subscriber_partition(match_id, connection_id)
        second: DeleteTypeDef = {"TableName": self.table, "Key": self._key(followers, connection)}
        self._transact([{"Delete": first}, {"Delete": second}], self._count(connection_id, -1))

    def _transact(self, pair: list["TransactWriteItemTypeDef"], count: "TransactWriteItemTypeDef") -> list[str]:
        """Write a subscription's two items and its count together: [] when done, else the cancellation
        reasons when a condition refused it (retried on a conflict with another request of the connection)."""
        for attempt in range(4):
            try:
                self.client.transact_write_items(TransactItems=[*pair, count])
                return []
            except self.client.exceptions.TransactionCanceledException as cancelled:
                reasons = [str(r.get("Code")) for r in cancelled.response.get("CancellationReasons", [])]
                if FAILED in reasons:
                    return reasons
                time.sleep(0.02 * 2**attempt)
        raise RuntimeError(f"subscription writes kept conflicting: {reasons}")

    def _count(self, connection_id: str, delta: int) -> "TransactWriteItemTypeDef":
        """The update of the connection's subscription count, refused past MAX_SUBSCRIPTIONS."""
        update: UpdateTypeDef = {
            "TableName": self.table,
            "Key": self._key(layout.connection_key(connection_id), layout.CONNECTION_ITEM),
            "UpdateExpression": "ADD #n :delta",
            "ExpressionAttributeNames": {"#n": SUBSCRIPTION_COUNT},
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
        if delta > 0:
            update["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :max"
            update["ExpressionAttributeValues"] = {":delta": {"N": str(delta)}, ":max": {"N": str(MAX_SUBSCRIPTIONS)}}
        return {"Update": update}

    def connections(self, match_id: str) -> list[str]:
        """The live connections subscribed to the match, shard by shard."""
        return [c for shard in range(layout.SUBSCRIBER_SHARDS) for c in self.shard_connections(match_id, shard)]

    def shard_connections(self, match_id: str, shard: int) -> list[str]:
        """The live connections of one shard of the match's followers."""
        prefix = len(layout.connection_key(""))
        partition = layout.subscriber_partitions(match_id)[shard]
        return [item[layout.SUBSCRIPTION_SORT_KEY]["S"][prefix:] for item in self._query(partition)]

    def forget(self, connection_id: str) -> None:
        """Remove the connection and all its subscriptions (on disconnect, or when it is gone)."""
        connection = layout.connection_key(connection_id)
        requests = []
        for item in self._query(connection, live_only=False):
            sort = item[layout.SUBSCRIPTION_SORT_KEY]["S"]
            requests.append({"DeleteRequest": {"Key": self._key(connection, sort)}})
            if sort != layout.CONNECTION_ITEM:
                followers = layout.subscriber_partition(sort.removeprefix(layout.match_key("")), connection_id)
                requests.append({"DeleteRequest": {"Key": self._key(followers, connection)}})
        for start in range(0, len(requests), 25):
            self._write(requests[start : start + 25])
        self._producers.pop(connection_id, None)

    def _query(self, partition: str, live_only: bool = True) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": layout.SUBSCRIPTION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "Limit": QUERY_LIMIT,
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
