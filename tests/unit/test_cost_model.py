"""The capacity and cost model's arithmetic (bench/bill.py) and the write-unit rules it costs transactions with
(bench/request_costs.py): known inputs, known outputs."""

import math

import boto3
import pytest
from botocore.stub import Stubber

from bench import bill
from chalicelib import layout
from devstack.capacity import Ledger, Meter, apply_update, item_bytes, item_read_units, query_read_units, units_of

# Round numbers, so every expected figure below can be checked by hand.
MEASURED = {
    "wcu_per_event_live": 20.0,
    "gsi_wcu_per_event_live": 8.0,
    "wcu_per_event_bulk": 8.0,
    "rcu_per_event_consumer": 0.1,
    "consumer_cpu_ms_per_event": 1.0,
    "consumer_wall_ms_per_event": 11.0,
    "consumer_events_per_invocation": 25.0,
    "ingest_cpu_ms_per_request": 2.0,
    "ingest_wall_ms_per_request": 12.0,
    "kafka_bytes_per_event": 500.0,
    "stored_bytes_per_event": 2048.0,
    "collection_bytes_per_event": 1024.0,
    "rcu_stats": 0.5,
    "bytes_stats": 2000.0,
    "ms_cpu_stats": 2.0,
    "ms_wall_stats": 4.0,
    "rcu_changes": 0.5,
    "bytes_changes_empty": 100.0,
    "bytes_changes_one": 500.0,
    "ms_cpu_changes": 1.0,
    "ms_wall_changes": 2.0,
    "rcu_directory": 10.0,
    "bytes_directory": 20000.0,
    "ms_cpu_directory": 5.0,
    "ms_wall_directory": 10.0,
    "msgs_per_change_per_subscriber": 2.0,
    "stats_per_change_per_subscriber": 1.0,
    "change_message_bytes": 400.0,
    "stats_message_bytes": 40_000.0,  # over 32 KB: metered as two messages
    "broadcaster_cpu_ms_per_change": 10.0,
    "broadcaster_cpu_ms_per_message": 1.0,
    "broadcast_rcu_per_change": 1.0,
    "ws_session_wcu": 6.0,
    "ws_session_rcu": 4.0,
    "ws_session_cpu_ms": 10.0,
}


@pytest.fixture(scope="module")
def model() -> bill.Model:
    measured = {name: (value, "unit", "test") for name, value in MEASURED.items()}
    return bill.compute(measured, lambda_memory_mb=1769, topic_partitions=7)


def test_per_match_capacity_and_dollars(model: bill.Model) -> None:
    assert model["cpu_scale"] == 1.0  # 1,769 MB: one vCPU, this machine's CPU ms count as they are
    assert model["wcu_per_match"] == 3500 * 20.0
    assert model["rcu_per_match"] == pytest.approx(3500 * 0.1)
    assert model["consumer_ms_per_event"] == pytest.approx(11.0)  # 1 x 1 + (11 - 1)
    assert model["consumer_gb_s_per_match"] == pytest.approx(3500 * 11.0 / 1000 * 1769 / 1024)
    assert model["ingest_gb_s_per_match"] == pytest.approx(3500 * 12.0 / 1000 * 1769 / 1024)
    dynamodb = 70_000 * 0.625 / 1e6 + 350 * 0.125 / 1e6
    assert model["dynamodb_usd_per_match"] == pytest.approx(dynamodb)
    lambda_ = (3500 * 23.0 / 1000 * 1769 / 1024) * 0.0000166667 + (3500 + 3500 / 25) * 0.20 / 1e6
    assert model["lambda_usd_per_match"] == pytest.approx(lambda_)
    assert model["api_gateway_usd_per_match"] == pytest.approx(3500 * 3.50 / 1e6)
    kafka_gb = 3500 * 500 / 2**30
    assert model["msk_usd_per_match"] == pytest.approx(kafka_gb * 0.15 + kafka_gb * 0.10 * 7 / 30)
    assert model["usd_per_match"] == pytest.approx(
        dynamodb + lambda_ + 3500 * 3.50 / 1e6 + kafka_gb * 0.15 + kafka_gb * 0.10 * 7 / 30
    )
    assert model["storage_usd_per_match_month"] == pytest.approx(3500 * 2048 / 2**30 * (0.25 + 0.20))


def test_saturday_polling_behind_the_cdn(model: bill.Model) -> None:
    viewer_seconds = 10_000 * 115 * 60
    assert model["cdn_requests"] == viewer_seconds / 2 * 3
    rate = 3500 / (115 * 60)
    p = 1 - math.exp(-rate * 2)
    assert model["p_changed"] == pytest.approx(p)
    assert model["bytes_per_poll"] == pytest.approx(20000 + p * 2000 + 100 + p * 400)
    # origin requests do not grow with viewers: 10 edges x (stats + the change URLs of one window) per 2 s
    windows = 300 * 115 * 60 / 2 * 10
    assert model["origin_match_requests"] == pytest.approx(windows * (1 + 1 + rate * 2))
    assert model["origin_directory_requests"] == 3 * 115 * 60 / 2 * 10
    assert model["saturday_polling_usd"] == pytest.approx(
        model["matches_usd"] + model["msk_fixed_usd"] + model["cdn_usd"] + model["origin_usd"]
    )
    assert model["msk_fixed_usd"] == pytest.approx(24 * (0.75 + 7 * 0.0015))


def test_saturday_on_the_websocket(model: bill.Model) -> None:
    assert model["ws_units_per_change"] == 1 * 1 + 1 * 2  # the 40 KB stats message is metered twice
    assert model["ws_messages"] == 10_000 * (3500 * 3 + 2)
    assert model["ws_api_usd"] == pytest.approx(model["ws_messages"] / 1e6 * 1.00 + 10_000 * 115 / 1e6 * 0.25)
    assert model["broadcaster_ms_per_change"] == pytest.approx(10.0 + 1.0 * 2.0 * 10_000 / 300)


def test_partitions_needed_for_an_event_rate(model: bill.Model) -> None:
    assert model["max_events_per_match"] == 10 * 2**30 / 1024
    assert model["kafka_partitions_consumer_1k"] == math.ceil(1000 * 11.0 / 1000)
    assert model["kafka_partitions_bytes_5k"] == math.ceil(5000 * 500 / 5_000_000)
    assert model["dynamodb_partitions_5k"] == math.ceil(5000 * 20.0 / 1000)


def test_every_line_prints_its_formula_with_the_numbers() -> None:
    m = bill.Model()
    m.given("events", 3500, "events")
    m.given("wcu", 2.5, "WCU")
    assert m.let("total", "events * wcu", "WCU") == 8750
    line = m.lines[-1]
    assert (line.formula, line.numbers) == ("events * wcu", "3,500 * 2.5")
    text = bill.render(m, "test")
    assert "total = events \u00d7 wcu" in text and "= 3,500 \u00d7 2.5 = 8,750 WCU" in text
    assert [bill.fmt(v) for v in (0.0000166667, 0.6374, 22.72, 3980.8, 79520.0)] == [
        "0.0000166667",
        "0.6374",
        "22.72",
        "3,980.8",
        "79,520",
    ]


def test_measured_inputs_scale_the_directory_to_100_summaries() -> None:
    read = {"rcu": 1.0, "bytes": 10, "cpu_ms": 1.0, "wall_ms": 2.0}
    costs = {
        "sizing": {"source": "test"},
        "consumer_live": {
            "wcu_per_event": 20.0,
            "wcu_per_event_gsi": 8.0,
            "rcu_per_event": 0.1,
            "cpu_ms_per_event": 1.0,
            "wall_ms_per_event": 11.0,
            "events_per_invocation": 25.0,
        },
        "consumer_bulk": {"wcu_per_event": 8.0},
        "api_reads": {
            "stats": read,
            "changes_poll_one": read,
            "changes_poll_empty": read,
            "directory_100": read | {"rcu": 4.0, "bytes": 5000, "matches": 40},
        },
        "broadcast": {
            "messages_per_change_per_subscriber_live": 2.0,
            "stats_per_change_per_subscriber_live": 1.0,
            "change_message_bytes": {"max": 400},
            "stats_message_bytes": {"max": 2000},
            "broadcaster_cpu_ms_per_change_base": 10.0,
            "broadcaster_cpu_ms_per_message": 1.0,
            "while_subscribed": {"stats_rcu": 0.5, "connections_rcu": 0.5},
        },
        "storage_full_match": {"stored_bytes_per_event": 2048.0, "item_collection_bytes_per_event": 1024.0},
        "kafka": {"log_bytes_per_event_single": 500.0},
        "ingest": {"cpu_ms_per_request_single": 2.0, "wall_ms_per_request_single": 12.0},
        "websocket_session": {"wcu": 6.0, "rcu": 4.0, "cpu_ms": 10.0},
    }
    inputs = bill.measured_inputs(costs)
    assert inputs["rcu_directory"][0] == 10.0 and inputs["bytes_directory"][0] == 12_500  # x 100 / 40
    assert inputs["broadcast_rcu_per_change"][0] == 1.0
    assert set(inputs) == set(MEASURED)


# -- AWS's sizing rules, on the documentation's examples and the app's items -----------------------------


def _event(event_id: str, timestamp: str, *, deleted: bool = False, padding: int = 0) -> dict[str, dict[str, str]]:
    item = {
        layout.PARTITION_KEY: {"S": "m1"},
        layout.SORT_KEY: {"S": layout.event_key(event_id)},
        layout.VERSION: {"N": "1"},
        layout.EVENT_BODY: {"S": "x" * padding},
    }
    if not deleted:
        item[layout.TIME_SORT_KEY] = {"S": layout.time_sort_key(timestamp, event_id)}
        item[layout.TYPE_SORT_KEY] = {"S": layout.type_sort_key("pass", timestamp, event_id)}
    return item


def test_read_and_write_units_follow_the_examples_of_aws_documentation() -> None:
    """Developer Guide, "DynamoDB read and write operations" (capacity unit consumption)."""
    kb = 1024
    assert units_of(500) == 1 and units_of(int(3.5 * kb)) == 4  # writes: 1 KB units, rounded up per item
    assert item_read_units([{"k": {"S": "x" * (3500 - 1)}}], consistent=True) == 1.0  # 3,500 B reads as 4 KB
    assert item_read_units([{"k": {"S": "x" * (10 * kb - 1)}}], consistent=True) == 3.0  # 10 KB reads as 12 KB
    eight_kb = {"k": {"S": "x" * (8 * kb - 1)}}
    assert item_read_units([eight_kb], consistent=True) == 2.0 and item_read_units([eight_kb]) == 1.0
    # BatchGetItem of a 1.5 KB and a 6.5 KB item: 4 KB + 8 KB = 12 KB, not 8 KB
    batch = [{"k": {"S": "x" * (int(1.5 * kb) - 1)}}, {"k": {"S": "x" * (int(6.5 * kb) - 1)}}]
    assert item_read_units(batch, consistent=True) == 3.0
    assert query_read_units(batch, consistent=True) == 2.0  # a Query sums first: 8 KB
    assert query_read_units([], consistent=True) == 1.0  # a Query that finds nothing still costs a unit


def test_item_size_follows_aws_rules() -> None:
    # names + values: "a" + "xyz" = 4; "n" + 12345 (5 digits: 3 bytes + 1) = 5; "b" + BOOL = 2
    assert item_bytes({"a": {"S": "xyz"}, "n": {"N": "12345"}, "b": {"BOOL": True}}) == 4 + 5 + 2
    four_kb = {"k": {"S": "x" * (4096 - 1)}}
    assert query_read_units([four_kb, four_kb]) == 1.0  # 8 KB, eventually consistent
    assert query_read_units([four_kb], consistent=True) == 1.0


def test_write_rules_for_new_replaced_and_voided_items() -> None:
    rules = Ledger(layout.table_definition("t"))
    new = _event("e1", "2026-01-01T00:00:00.000Z")
    assert rules.write("t", None, new) == {"table": 1, "lsi": 2, "gsi": 0}  # the item and its two index entries
    big = _event("e1", "2026-01-01T00:00:00.000Z", padding=2500)
    assert rules.write("t", None, big) == {"table": 3, "lsi": 6, "gsi": 0}  # 1 KB rounding, per entry
    moved = _event("e1", "2026-01-01T00:00:05.000Z")
    assert rules.write("t", new, moved) == {"table": 1, "lsi": 4, "gsi": 0}  # index keys change: delete + put each
    void = _event("e1", "", deleted=True)
    assert rules.write("t", moved, void) == {"table": 1, "lsi": 2, "gsi": 0}  # the index entries are deleted


def test_a_transaction_costs_twice_and_tracks_item_images() -> None:
    rules = Ledger(layout.table_definition("t"))
    key = {layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": layout.MATCH_STATS}}
    directory = {
        "Update": {
            "TableName": "t",
            "Key": key,
            "UpdateExpression": "SET #s0 = :s0, #s1 = :s1 ADD #c0 :c0",
            "ExpressionAttributeNames": {
                "#s0": layout.DIRECTORY_PARTITION_KEY,
                "#s1": layout.DIRECTORY_SORT_KEY,
                "#c0": "n",
            },
            "ExpressionAttributeValues": {":s0": {"S": "matches"}, ":s1": {"S": "a#m1"}, ":c0": {"N": "1"}},
        }
    }
    put = {"Put": {"TableName": "t", "Item": _event("e1", "2026-01-01T00:00:00.000Z")}}
    assert rules.transaction([put, directory]) == {"table": 4, "lsi": 4, "gsi": 2}
    moved = directory | {
        "Update": directory["Update"]
        | {"ExpressionAttributeValues": {":s0": {"S": "matches"}, ":s1": {"S": "b#m1"}, ":c0": {"N": "2"}}}
    }
    assert rules.transaction([moved]) == {"table": 2, "lsi": 0, "gsi": 4}  # directory key moved: delete + put
    assert rules.images[rules._image_key(rules.table("t"), key)]["n"] == {"N": "3"}
    again = {
        "Update": directory["Update"]
        | {"ExpressionAttributeValues": dict(moved["Update"]["ExpressionAttributeValues"]) | {":c0": {"N": "1"}}}
    }
    assert rules.transaction([again]) == {"table": 2, "lsi": 0, "gsi": 0}  # n is not projected


def test_units_are_attributed_to_the_partition_keys_of_the_table_and_of_each_global_index() -> None:
    rules = Ledger(layout.table_definition("t"))
    key = {layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": layout.MATCH_STATS}}
    rules.write(
        "t", None, key | {layout.DIRECTORY_PARTITION_KEY: {"S": "matches#07"}, layout.DIRECTORY_SORT_KEY: {"S": "a#m1"}}
    )
    rules.write("t", None, _event("e1", "2026-01-01T00:00:00.000Z"))
    assert rules.units.wcu == {("t", None, "m1"): 1 + 1 + 2, ("t", layout.DIRECTORY_INDEX, "matches#07"): 1}


def test_apply_update() -> None:
    item = {"a": {"N": "1"}, "b": {"S": "x"}}
    names, values = {"#a": "a", "#c": "c"}, {":one": {"N": "2"}, ":s": {"S": "y"}}
    updated = apply_update(item, "SET #c = :s ADD #a :one REMOVE b", names, values)
    assert updated == {"a": {"N": "3"}, "c": {"S": "y"}}


def test_a_meter_takes_what_the_calls_since_its_last_take_cost_and_starts_over() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    puts = [{"Put": {"TableName": "t", "Item": _event(f"e{n}", "2026-01-01T00:00:00.000Z")}} for n in (1, 2)]
    meter = Meter(client, Ledger(layout.table_definition("t")))
    with Stubber(client) as stub:
        stub.add_response("transact_write_items", {})
        stub.add_client_error("transact_write_items", "TransactionCanceledException")
        client.transact_write_items(TransactItems=puts)
        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(TransactItems=puts)
    taken = meter.take()  # the failed call counted, not sized
    sized = Ledger(layout.table_definition("t")).transaction(puts)
    assert (taken.writes, taken.wcu.total(), taken.parts["write"]["table"]) == (2, sum(sized.values()), 4)
    assert (taken.calls, taken.failed) == ({"TransactWriteItems": 2}, {"TransactWriteItems": 1})
    again = meter.take()
    assert (again.writes, again.wcu.total(), again.calls) == (0, 0, {})
    meter.close()
