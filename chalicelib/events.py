"""The event schema: what a valid football event is, and its canonical form.

The attrs class is the single definition of every field and its rule.
``parse_event`` runs those same validators field by field so a client hears
about every bad field at once, not just the first one.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import attrs

from chalicelib.errors import InvalidEvents

MATCH_LEVEL_TYPES = frozenset({"kick_off", "half_time", "full_time"})
TEAM_LEVEL_TYPES = frozenset({"lineup", "formation_change"})  # a team_id, no player_id
SHOT_TYPES = frozenset({"shot", "goal"})
# Which event types each optional field belongs to (a field on another type is a 400).
FIELD_TYPES = {
    "xg": SHOT_TYPES,
    "body_part": SHOT_TYPES,
    "end_x": SHOT_TYPES | {"pass"},
    "end_y": SHOT_TYPES | {"pass"},
    "formation": TEAM_LEVEL_TYPES,
    "players": frozenset({"lineup"}),
}
REQUIRED_FOR = {"formation_change": ("formation",), "lineup": ("players",)}
BODY_PARTS = frozenset({"right_foot", "left_foot", "head", "other"})
FORMATION = re.compile(r"[1-9](-[1-9]){1,4}")
MAX_LINEUP = 30
XG_DECIMALS = 6  # a millionth of a goal: past what any model claims, and every sum stays exact
EVENT_TYPES = (
    frozenset(
        {
            "goal",
            "own_goal",
            "shot",
            "save",
            "pass",
            "corner",
            "free_kick",
            "throw_in",
            "offside",
            "foul",
            "yellow_card",
            "red_card",
            "tackle",
            "interception",
            "clearance",
            "dribble",
            "substitution",
        }
    )
    | MATCH_LEVEL_TYPES
    | TEAM_LEVEL_TYPES
)
OUTCOMES = {
    "pass": frozenset({"complete", "incomplete"}),
    "shot": frozenset({"saved", "off_target", "blocked", "post"}),
}
DEFAULT_OUTCOMES = {"pass": "complete"}
MAX_BATCH = 500
MAX_VERSION = 2_147_483_647  # DELETE voids with this version: nothing can restore the event after it
MIN_YEAR, MAX_YEAR = 1900, 2999
COORDINATE_DECIMALS = 3  # a thousandth of a percent of the pitch: well under a millimetre

MATCH_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _text(max_len: int, pattern: re.Pattern[str] | None = None) -> Validator:
    def check(_: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not 1 <= len(value) <= max_len:
            raise ValueError(f"must be 1-{max_len} characters")
        if not value.isascii():
            try:
                value.encode()  # JSON can carry lone surrogates, which DynamoDB could never store
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text") from None
        if pattern is not None and not pattern.fullmatch(value):
            raise ValueError(f"must match {pattern.pattern}")

    return check


def _number(low: float, high: float, *, integer: bool) -> Validator:
    kinds = (int,) if integer else (int, float)

    def check(_: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError("must be an integer" if integer else "must be a number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")

    return check


def _coordinate(value: Any) -> Any:
    """Round x/y so every stored number is one DynamoDB can hold (no 5e-324 underflow)."""
    return round(value, COORDINATE_DECIMALS) if isinstance(value, float) else value


def _xg(value: Any) -> Any:
    return round(value, XG_DECIMALS) if isinstance(value, float) else value


_PLAYER_ORDER = ("player_id", "position", "shirt_number", "starter")
_PLAYER_FIELDS = frozenset(_PLAYER_ORDER)


def _lineup_players(value: Any) -> tuple[dict[str, Any], ...] | None:
    """A lineup's ``players``: 1-30 objects, kept once per player_id; the first problem names its item."""
    if value is None or isinstance(value, tuple):  # unset, or already checked
        return value
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINEUP:
        raise ValueError(f"must be a list of 1-{MAX_LINEUP} players")
    players, seen = [], set()
    for n, player in enumerate(value):
        if not isinstance(player, dict):
            raise ValueError(f"[{n}] must be an object")
        unknown = sorted(set(player) - _PLAYER_FIELDS)
        if unknown:
            raise ValueError(f"[{n}].{_shown(unknown[0])} is not a known field")
        checks: tuple[tuple[str, Validator, bool], ...] = (
            ("player_id", _text(64), True),
            ("position", _text(32), False),
            ("shirt_number", _number(0, 99, integer=True), False),
            ("starter", _boolean, True),
        )
        for name, check, required in checks:
            if player.get(name) is None:
                if required or name in player:
                    raise ValueError(f"[{n}].{name} is required" if required else f"[{n}].{name} must not be null")
                continue
            try:
                check(None, None, player[name])  # type: ignore[arg-type]
            except ValueError as problem:
                raise ValueError(f"[{n}].{name} {problem}") from None
        if player["player_id"] not in seen:  # a player listed again is the same player: the first entry stands
            seen.add(player["player_id"])
            players.append({name: player[name] for name in _PLAYER_ORDER if name in player})
    return tuple(players)


def _boolean(_: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")


def _one_of(choices: frozenset[str]) -> Validator:
    def check(_: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value not in choices:
            raise ValueError(f"must be one of: {', '.join(sorted(choices))}")

    return check


def iso_millis(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC: fixed width, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise_timestamp(value: Any) -> str:
    """ISO-8601 with a zone in, ``YYYY-MM-DDTHH:MM:SS.sssZ`` (UTC) out."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be ISO-8601, e.g. 2023-06-15T14:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry Z or a UTC offset")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:  # "0223" for "2023" is a typo, not a match
        raise ValueError(f"must be in the years {MIN_YEAR}-{MAX_YEAR}")
    return iso_millis(parsed)


def _optional(validator: Validator) -> Validator:
    return attrs.validators.optional(validator)


@attrs.frozen(kw_only=True)
class Event:
    """One validated match event in canonical form (what Kafka and DynamoDB carry)."""

    match_id: str = attrs.field(validator=_text(64, MATCH_ID))
    event_type: str = attrs.field(validator=_one_of(EVENT_TYPES))
    timestamp: str = attrs.field(converter=normalise_timestamp)
    team_id: str | None = attrs.field(default=None, validator=_optional(_text(64)))
    player_id: str | None = attrs.field(default=None, validator=_optional(_text(64)))
    event_id: str = attrs.field(validator=_text(128))  # given, or derived from the content by parse_event
    period: int | None = attrs.field(default=None, validator=_optional(_number(1, 5, integer=True)))
    minute: int | None = attrs.field(default=None, validator=_optional(_number(0, 130, integer=True)))
    second: int | None = attrs.field(default=None, validator=_optional(_number(0, 59, integer=True)))
    outcome: str | None = attrs.field(default=None, validator=_optional(_text(32)))
    x: float | None = attrs.field(
        default=None, converter=_coordinate, validator=_optional(_number(0, 100, integer=False))
    )
    y: float | None = attrs.field(
        default=None, converter=_coordinate, validator=_optional(_number(0, 100, integer=False))
    )
    related_player_id: str | None = attrs.field(default=None, validator=_optional(_text(64)))
    xg: float | None = attrs.field(default=None, converter=_xg, validator=_optional(_number(0, 1, integer=False)))
    body_part: str | None = attrs.field(default=None, validator=_optional(_one_of(BODY_PARTS)))
    end_x: float | None = attrs.field(
        default=None, converter=_coordinate, validator=_optional(_number(0, 100, integer=False))
    )
    end_y: float | None = attrs.field(
        default=None, converter=_coordinate, validator=_optional(_number(0, 100, integer=False))
    )
    formation: str | None = attrs.field(default=None, validator=_optional(_text(16, FORMATION)))
    players: tuple[dict[str, Any], ...] | None = attrs.field(default=None, converter=_lineup_players)
    version: int = attrs.field(default=1, validator=_number(1, MAX_VERSION, integer=True))

    def to_dict(self) -> dict[str, Any]:
        """The stored and published form: only the fields that are set (flat, so no asdict recursion)."""
        fields = {name: value for name in _FIELD_NAMES if (value := getattr(self, name)) is not None}
        if self.players is not None:
            fields["players"] = list(self.players)
        return fields


@attrs.frozen(kw_only=True)
class Void:
    """A correction that voids (match_id, event_id) as of ``version``: the event leaves every read."""

    match_id: str
    event_id: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"match_id": self.match_id, "event_id": self.event_id, "version": self.version, "deleted": True}


FIELDS: dict[str, "attrs.Attribute[Any]"] = {a.name: a for a in attrs.fields(Event)}
_FIELD_NAMES = tuple(FIELDS)
# Each field's converter (a plain function: attrs types it as maybe a Converter) and validator, looked up once.
_CHECKS = tuple(
    (name, cast(Callable[[Any], Any] | None, attribute.converter), attribute.validator, attribute)
    for name, attribute in FIELDS.items()
)


def _cross_field_errors(raw: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rules that depend on a valid event type."""
    event_type = values.get("event_type")
    if event_type is None:
        return []
    errors = []
    if event_type not in MATCH_LEVEL_TYPES:
        needed = ("team_id",) if event_type in TEAM_LEVEL_TYPES else ("team_id", "player_id")
        errors += [(f, f"is required for {event_type}") for f in needed if f not in raw]
    errors += [(f, f"is required for {event_type}") for f in REQUIRED_FOR.get(event_type, ()) if f not in raw]
    errors += [
        (f, f"is not used for {event_type} (only {', '.join(sorted(types))})")
        for f, types in FIELD_TYPES.items()
        if f in values and event_type not in types
    ]
    if "outcome" in values:
        allowed = OUTCOMES.get(event_type)
        if allowed is None:
            errors.append(("outcome", f"is not used for {event_type}"))
        elif values["outcome"] not in allowed:
            errors.append(("outcome", f"for {event_type} must be one of: {', '.join(sorted(allowed))}"))
    return errors


def derive_event_id(fields: Mapping[str, Any]) -> str:
    """Content hash, so an identical retry without an event_id is the same event."""
    content = {name: value for name, value in fields.items() if name != "version"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _shown(name: str) -> str:
    """A field name as an error quotes it: a client's unknown name can be as long as the body."""
    return name if len(name) <= 64 else name[:64] + "..."


def parse_event(raw: Any) -> Event | Void:
    """Validate one raw JSON object; raise InvalidEvents naming every bad field.

    ``"deleted": true`` makes it a void: only match_id and event_id are required, and any other field
    given is checked but not kept. A correction (version above 1, or a void) must name its event_id:
    a derived id changes with the content, so it cannot identify what to correct.
    """
    if not isinstance(raw, dict):
        raise InvalidEvents([{"field": None, "message": "an event must be a JSON object"}])
    void = "deleted" in raw
    errors = [(_shown(name), "is not a known field") for name in raw if name not in FIELDS and name != "deleted"]
    if void and raw["deleted"] is not True:
        errors.append(("deleted", "must be true (leave it out for an event that stands)"))
    required = ("match_id", "event_id") if void else ("match_id", "event_type", "timestamp")
    values: dict[str, Any] = {}
    for name, converter, validator, attribute in _CHECKS:
        value = raw.get(name)
        if value is None:
            if name in raw:
                errors.append((name, "must not be null; leave the field out instead"))
            elif name in required:
                errors.append((name, "is required" if not void else "is required to void an event"))
            continue
        try:
            if converter is not None:
                value = converter(value)
            if validator is not None:
                validator(None, attribute, value)
        except (ValueError, TypeError) as problem:
            errors.append((name, str(problem)))
            continue
        values[name] = value
    if not void:
        errors += _cross_field_errors(raw, values)
        if values.get("version", 1) > 1 and "event_id" not in raw:
            errors.append(("event_id", "is required to correct an event (version above 1)"))
    if errors:
        raise InvalidEvents([{"field": field, "message": message} for field, message in errors])
    if void:
        return Void(match_id=values["match_id"], event_id=values["event_id"], version=values.get("version", 1))
    if "outcome" not in values and values["event_type"] in DEFAULT_OUTCOMES:
        values["outcome"] = DEFAULT_OUTCOMES[values["event_type"]]
    if "event_id" not in values:
        values["event_id"] = derive_event_id(values)
    with attrs.validators.disabled():  # every field was checked above
        return Event(**values)


def parse_batch(body: Any) -> list[Event | Void]:
    """One event or ``{"events": [...]}``; all or nothing, errors carry their index."""
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})
        items = body["events"]
        if extra:
            raise InvalidEvents([{"field": _shown(name), "message": "is not a known field"} for name in extra])
        if not isinstance(items, list) or not items:
            raise InvalidEvents([{"field": "events", "message": f"must be a list of 1-{MAX_BATCH} events"}])
        events, errors = [], []
        for index, item in enumerate(items):
            try:
                events.append(parse_event(item))
            except InvalidEvents as invalid:
                errors += [{"index": index, **error} for error in invalid.errors]
        if errors:
            raise InvalidEvents(errors)
        return events
    return [parse_event(body)]
