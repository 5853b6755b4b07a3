"""The directory's merge of its index partitions, against a fake index that filters as DynamoDB does:
after ``Limit``, so a read can come back empty with more to read."""

import json
from typing import Any

from chalicelib import layout
from chalicelib.directory import DirectoryQuery, MatchDirectory


class FilteringIndex:
    """Each partition's entries, latest first; Limit counts entries read, then the status filter applies."""

    def __init__(self, entries: dict[str, list[tuple[str, str]]]) -> None:
        self.entries = entries  # partition -> [(dir_sk, status)], latest first

    def query(self, **params: Any) -> dict[str, Any]:
        values = params["ExpressionAttributeValues"]
        rows = self.entries.get(values[":pk"]["S"], [])
        start = int(params.get("ExclusiveStartKey", {"n": {"N": "0"}})["n"]["N"])
        read = rows[start : start + params["Limit"]]
        wanted = values.get(":status", {}).get("S")
        items = [
            {
                layout.PARTITION_KEY: {"S": sk.rpartition("#")[2]},
                layout.DIRECTORY_SORT_KEY: {"S": sk},
                layout.SUMMARY: {"S": json.dumps({"status": status})},
            }
            for sk, status in read
            if wanted is None or status == wanted
        ]
        more = start + len(read) < len(rows)
        return {"Items": items} | ({"LastEvaluatedKey": {"n": {"N": str(start + len(read))}}} if more else {})


def test_a_partition_whose_reads_the_filter_empties_is_read_on_before_the_merge_passes_it():
    crowded, quiet = layout.directory_partitions()[:2]
    index = FilteringIndex(
        {
            # five finished matches fill the first reads of this partition; its live one is the latest live
            crowded: [(f"2026-06-01T18:0{n}:00.000Z#done{n}", "finished") for n in range(5)]
            + [("2026-06-01T17:00:00.000Z#latest-live", "live")],
            quiet: [("2026-06-01T16:00:00.000Z#earlier-live", "live")],
        }
    )
    matches, _ = MatchDirectory(index, "t").page(DirectoryQuery(status="live", limit=1))  # type: ignore[arg-type]
    assert [m["match_id"] for m in matches] == ["latest-live"]
