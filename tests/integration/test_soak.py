"""The chaos soak, short: a minute of load with corrections and voids while each of the five processes
(Kafka, the DynamoDB engine, the event source, the broadcaster, the API) is SIGKILLed once and restarted;
then the exact verification must find nothing lost, nothing double-counted, nothing valid dead-lettered.

The same run's evidence is then tampered with, one way at a time, to show the verification is not
blind: a soak that cannot fail proves nothing. `make soak MINUTES=20` is the long version.
"""

import copy
import json

import attrs
import pytest

from soak.config import SoakConfig
from soak.runner import SoakRun, run
from soak.topology import KINDS
from soak.verify import Verification, verify_all

# Not in `make test` (it would add minutes to it): `.venv/bin/pytest -m soak tests/integration/test_soak.py`.
pytestmark = pytest.mark.soak

FAULTS = len(KINDS)  # one shuffled round: every kind exactly once, whatever the seed


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> SoakRun:
    config = SoakConfig(
        minutes=1,
        rate=40,
        seed=11,
        faults=FAULTS,
        clients=3,
        match_events=200,
        poison=2,
        data_dir=tmp_path_factory.mktemp("soak"),
    )
    return run(config)


def again(soak: SoakRun, **changes) -> Verification:
    """The verification over the run's evidence with some of it replaced."""
    evidence = {
        "requests": soak.requests,
        "reads": soak.reads,
        "directory": soak.directory,
        "dead_letters": soak.dead_letters,
        "poison": soak.poison,
    }
    return verify_all(**(evidence | changes))


def a_match_with_goals(soak: SoakRun) -> str:
    return next(m for m, reads in soak.reads.items() if any(e["event_type"] == "goal" for e in reads.timeline))


def test_every_kind_of_fault_and_nothing_lost_or_double_counted(soak):
    report = soak.report
    assert report["faults"]["injected"] == FAULTS
    assert set(report["faults"]["by_kind"]) == set(KINDS)
    assert report["events"]["acknowledged"] > 300
    assert {"original", "amend", "void", "redeliver"} <= set(report["events"]["by_op"])
    assert report["requests"]["rejected"] == 0
    assert report["verification"]["lost"] == 0, report["verification"]["examples"]
    assert report["verification"]["double_counted"] == 0, report["verification"]["examples"]
    assert report["verification"]["mismatches"] == 0, report["verification"]["examples"]
    assert report["dead_letter"]["valid"] == 0
    assert report["dead_letter"]["poison_found"] == report["dead_letter"]["poison_acknowledged"] > 0
    assert report["passed"]
    assert json.loads(json.dumps(report)) == report  # what --results writes


def test_the_evidence_as_read_verifies(soak):
    assert again(soak).passed


def test_an_acknowledged_event_missing_is_counted_lost(soak):
    match_id = a_match_with_goals(soak)
    reads = copy.deepcopy(soak.reads)
    gone = reads[match_id].timeline.pop()
    reads[match_id] = attrs.evolve(
        reads[match_id], changes=[c for c in reads[match_id].changes if c["event"]["event_id"] != gone["event_id"]]
    )
    result = again(soak, reads=reads)
    assert result.lost == 1
    assert not result.passed


def test_an_event_served_at_an_older_version_is_lost_and_a_voided_one_served_is_a_mismatch(soak):
    match_id, amended = next(
        (m, e) for m, reads in soak.reads.items() for e in reads.timeline if e.get("version", 1) > 1
    )
    reads = copy.deepcopy(soak.reads)
    served = next(e for e in reads[match_id].timeline if e["event_id"] == amended["event_id"])
    served["version"] -= 1
    assert again(soak, reads=reads).lost == 1

    served_ids = {(m, e["event_id"]) for m, reads in soak.reads.items() for e in reads.timeline}
    match_id, event_id = next(
        (r.match_id, e["event_id"])
        for r in soak.requests
        for e, op in zip(r.events, r.ops, strict=True)
        if r.acked and op in ("for_good", "void", "pre_void") and (r.match_id, e["event_id"]) not in served_ids
    )
    reads = copy.deepcopy(soak.reads)
    reads[match_id].timeline.append({"event_id": event_id, "timestamp": "9999", "version": 1})
    result = again(soak, reads=reads)
    assert result.examples["resurrected"]
    assert not result.passed


def test_an_event_served_twice_or_a_change_applied_twice_is_double_counted(soak):
    match_id = a_match_with_goals(soak)
    reads = copy.deepcopy(soak.reads)
    reads[match_id].timeline.append(reads[match_id].timeline[-1])
    assert again(soak, reads=reads).double_counted >= 1

    reads = copy.deepcopy(soak.reads)
    reads[match_id].changes.append(reads[match_id].changes[-1] | {"cursor": "999999999999.000"})
    assert again(soak, reads=reads).double_counted >= 1


def test_a_statistic_above_the_recomputation_is_double_counted(soak):
    match_id = a_match_with_goals(soak)
    reads = copy.deepcopy(soak.reads)
    team = next(iter(reads[match_id].stats["teams"]))
    reads[match_id].stats["teams"][team]["passes"] += 1
    result = again(soak, reads=reads)
    assert result.double_counted == 1
    assert result.stats_over_units == 1


def test_a_wrong_directory_entry_or_order_is_a_mismatch(soak):
    directory = copy.deepcopy(soak.directory)
    directory[0]["status"] = "finished" if directory[0]["status"] != "finished" else "live"
    assert again(soak, directory=directory).mismatches == 1
    assert again(soak, directory=soak.directory[1:]).mismatches == 1
    assert again(soak, directory=list(reversed(soak.directory))).mismatches >= 1


def test_a_valid_record_in_the_dead_letter_topic_fails_the_run(soak):
    request = next(r for r in soak.requests if r.acked and r.method == "POST")
    value = json.dumps({"received_at": "2026-01-01T00:00:00.000Z", "events": request.events}).encode()
    result = again(soak, dead_letters=[*soak.dead_letters, (None, value, {"error": b"refused"})])
    assert result.dead_letter_valid == 1
    assert not result.passed


def test_an_unacknowledged_request_may_have_landed_or_not(soak):
    """Mark acknowledged requests as abandoned: what they carried is then optional, never lost."""
    requests = copy.deepcopy(soak.requests)
    for request in requests[::7]:
        if request.acked:
            request.acked, request.abandoned, request.event_ids = False, True, None
    result = again(soak, requests=requests)
    assert result.passed, dict(result.examples)
    assert result.unacked_landed > 0
