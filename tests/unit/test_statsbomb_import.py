"""StatsBomb open-data events become contract events (fixture: a small hand-made file in that format)."""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.events import parse_batch
from matchtools.__main__ import main
from matchtools.statsbomb import convert

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "statsbomb_events.json"
KICK_OFF = datetime(2023, 6, 15, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def converted():
    events, skipped = convert(json.loads(FIXTURE.read_text()), "sb-match", KICK_OFF)
    return events, skipped


def of_type(events, event_type):
    return [e for e in events if e["event_type"] == event_type]


def test_every_converted_event_is_valid_and_in_timeline_order(converted):
    events, _ = converted
    assert len(parse_batch({"events": events})) == len(events)
    assert events == sorted(events, key=lambda e: (e["timestamp"], e["event_id"]))
    assert len({e["event_id"] for e in events}) == len(events)


def test_types_without_a_contract_equivalent_are_skipped_and_counted(converted):
    _, skipped = converted
    assert skipped == Counter({"Ball Receipt*": 1, "Carry": 1, "Pressure": 1, "Duel": 1, "Own Goal For": 1})


def test_periods_become_kick_off_half_time_and_full_time_once_each(converted):
    events, _ = converted
    markers = [(e["event_type"], e["timestamp"]) for e in events if "team_id" not in e]
    assert markers == [
        ("kick_off", "2023-06-15T15:00:00.000Z"),
        ("half_time", "2023-06-15T15:45:10.000Z"),
        ("kick_off", "2023-06-15T16:00:00.000Z"),
        ("full_time", "2023-06-15T16:48:02.000Z"),
    ]


def test_passes_keep_recipient_and_completion_and_set_pieces_add_their_own_event(converted):
    events, _ = converted
    passes = of_type(events, "pass")
    assert [p["outcome"] for p in passes] == [
        "complete",
        "incomplete",
        "complete",
        "complete",
        "complete",
        "incomplete",
    ]
    assert passes[0]["related_player_id"] == "Bo Midfield"
    assert [
        (e["event_type"], e["team_id"]) for e in events if e["event_type"] in ("corner", "free_kick", "throw_in")
    ] == [("corner", "Southbridge United"), ("free_kick", "Northside FC"), ("throw_in", "Southbridge United")]
    assert len(of_type(events, "offside")) == 2  # a "Pass Offside" and an Offside event


def test_shot_outcomes_map_to_the_contract_and_a_scored_shot_is_a_goal(converted):
    events, _ = converted
    assert [s["outcome"] for s in of_type(events, "shot")] == ["saved", "off_target", "blocked", "post"]
    assert [(g["team_id"], g["player_id"]) for g in of_type(events, "goal")] == [
        ("Northside FC", "Ada Striker"),
        ("Southbridge United", "Fin Sub"),
    ]


def test_own_goal_is_credited_to_the_other_team_with_the_unlucky_player(converted):
    events, _ = converted
    (own_goal,) = of_type(events, "own_goal")
    assert (own_goal["team_id"], own_goal["player_id"]) == ("Northside FC", "Cy Back")


def test_cards_from_fouls_and_bad_behaviour_and_a_second_yellow_is_also_red(converted):
    events, _ = converted
    cards = [(e["event_type"], e["player_id"]) for e in events if e["event_type"].endswith("_card")]
    assert sorted(cards) == [
        ("red_card", "Cy Back"),
        ("red_card", "Gus Defender"),
        ("yellow_card", "Cy Back"),
        ("yellow_card", "Cy Back"),
    ]


def test_keeper_saves_tackles_and_substitutions(converted):
    events, _ = converted
    assert [e["player_id"] for e in of_type(events, "save")] == ["Flo Keeper"]
    assert [e["player_id"] for e in of_type(events, "tackle")] == ["Cy Back"]
    (substitution,) = of_type(events, "substitution")
    assert (substitution["player_id"], substitution["related_player_id"]) == ("Di Winger", "Fin Sub")


def test_time_and_location_are_converted(converted):
    events, _ = converted
    (goal, _) = of_type(events, "goal")
    assert (goal["timestamp"], goal["period"], goal["minute"], goal["second"]) == ("2023-06-15T15:12:00.000Z", 1, 12, 0)
    assert (goal["x"], goal["y"]) == (90.0, 47.5)  # 108 of 120, 38 of 80


def test_event_ids_are_stable_so_a_reimport_is_idempotent():
    raw = json.loads(FIXTURE.read_text())
    assert convert(raw, "m", KICK_OFF) == convert(raw, "m", KICK_OFF)


def test_output_mode_writes_contract_json_lines(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    main(["import-statsbomb", str(FIXTURE), "--match-id", "sb", "--output", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == convert(json.loads(FIXTURE.read_text()), "sb", datetime(2023, 6, 15, 15, tzinfo=UTC))[0]
    assert "39 StatsBomb events -> 37 events" in capsys.readouterr().out


def test_starting_xi_becomes_a_lineup_with_formation_positions_and_shirt_numbers(converted):
    events, _ = converted
    north, south = of_type(events, "lineup")
    assert (north["team_id"], north["formation"], south["formation"]) == ("Northside FC", "4-3-3", "4-2-3-1")
    assert north["players"][0] == {
        "player_id": "Flo Keeper",
        "position": "Goalkeeper",
        "shirt_number": 1,
        "starter": True,
    }
    assert len(north["players"]) == 11 and all(p["starter"] for p in north["players"])
    assert "player_id" not in north


def test_a_tactical_shift_becomes_a_formation_change(converted):
    events, _ = converted
    (shift,) = of_type(events, "formation_change")
    assert (shift["team_id"], shift["formation"], shift["timestamp"]) == (
        "Southbridge United",
        "4-4-2",
        "2023-06-15T16:12:00.000Z",
    )


def test_shots_carry_statsbomb_xg_body_part_and_end_location(converted):
    events, _ = converted
    shots = of_type(events, "shot") + of_type(events, "goal")
    winner = next(e for e in shots if e["event_id"].endswith("14"))
    assert (winner["event_type"], winner["xg"], winner["body_part"]) == ("goal", 0.76, "right_foot")
    assert (winner["end_x"], winner["end_y"]) == (100.0, 47.5)
    assert {e["body_part"] for e in shots} == {"right_foot", "left_foot", "head"}
    passes = of_type(events, "pass")
    assert all("end_x" in p and "end_y" in p for p in passes)


OPEN_DATA = FIXTURE.parent / "statsbomb_open_data_match.json"


def test_an_open_data_file_maps_every_football_depth_field():
    """A file written in StatsBomb's open-data layout (events/<match_id>.json) by hand: unusual
    formations, a body part outside the contract's three, a location off the pitch, a bad formation."""
    events, skipped = convert(json.loads(OPEN_DATA.read_text()), "sb-open", KICK_OFF)
    assert len(parse_batch({"events": events})) == len(events)
    lineups = {e["team_id"]: e for e in of_type(events, "lineup")}
    assert (lineups["Harbour Town"]["formation"], lineups["Valley Rovers"]["formation"]) == ("4-1-2-1-2", "3-4-2-1")
    assert lineups["Valley Rovers"]["players"][1] == {
        "player_id": "Wen Libero",
        "position": "Center Back",
        "shirt_number": 5,
        "starter": True,
    }
    assert [e["formation"] for e in of_type(events, "formation_change")] == ["3-5-2"]
    assert skipped["Tactical Shift"] == 1  # formation 4021 has a zero line: not a formation the contract takes
    (shot,) = of_type(events, "shot")
    assert (shot["xg"], shot["body_part"], shot["outcome"], shot["end_x"], shot["end_y"]) == (
        0.0523,
        "other",
        "off_target",
        100.0,
        0.0,
    )
    (goal,) = of_type(events, "goal")
    assert (goal["xg"], goal["body_part"]) == (0.7835, "head")
