"""The published JSON Schema and `parse_envelope` agree on what the ledger accepts.

Hypothesis builds valid envelopes of every producer type, mutates them (a field dropped,
replaced by any JSON value, a boundary number or an odd string, an unknown field added,
another or an unknown type) and checks that ``schemas/json/envelope.json`` under
`jsonschema`'s Draft202012Validator and `parse_envelope` both accept or both reject.
The only disagreements allowed are the checks JSON Schema cannot express, listed in
docs/event-contract.md ("What the schema cannot say"); each is recognised here from the
input itself, not from the ledger's answer alone.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from schemas import PRODUCER_TYPES, SYSTEM_TYPES, WireError, parse_envelope
from schemas.export import ENVELOPE_FILE, LEDGER_WRITTEN_FILE, expected_json_schemas
from schemas.fields import (
    CUSTOMER_ID_PATTERN,
    DURATION_PATTERN,
    INSTANT_PATTERN,
    TICKET_ID_PATTERN,
    actor_key,
)
from tests.unit.test_schemas import MINIMAL, TARGET, changed, envelope

SCHEMA: dict[str, Any] = json.loads(expected_json_schemas()[ENVELOPE_FILE])
LEDGER_SCHEMA: dict[str, Any] = json.loads(expected_json_schemas()[LEDGER_WRITTEN_FILE])
FORMATS = FormatChecker(formats=["date", "uuid"])
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FORMATS)

# The oneOf's branches are told apart by a ``const`` type, so an envelope is valid under
# the oneOf exactly when it is valid under the branch of its type (checked below). A
# validator walks every branch of a oneOf in full, about 25 ms an envelope here; the
# branch alone is what keeps this test within a few seconds.
BRANCH: dict[str, Draft202012Validator] = {}
for _ref in SCHEMA["oneOf"]:
    _name = _ref["$ref"].rsplit("/", 1)[1]
    _type = SCHEMA["$defs"][_name]["properties"]["type"]["const"]
    BRANCH[_type] = Draft202012Validator(
        {"$ref": _ref["$ref"], "$defs": SCHEMA["$defs"]}, format_checker=FORMATS
    )


def schema_accepts(document: Any) -> bool:
    """The oneOf's verdict, through the branch of the document's type."""
    if not isinstance(document, dict):
        return False
    branch = BRANCH.get(document.get("type")) if isinstance(document.get("type"), str) else None
    return branch is not None and branch.is_valid(document)


def ledger_verdict(text: str) -> WireError | None:
    try:
        parse_envelope(text.encode())
    except WireError as error:
        return error
    return None


# What the schema cannot say: each recognised from the input ------------------------------
_INSTANT = re.compile(INSTANT_PATTERN)
_DURATION = re.compile(DURATION_PATTERN)
_PARTS = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def at_path(document: Any, field: str) -> Any:
    value = document
    for part in field.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def utc_overflows(value: Any) -> bool:
    if not isinstance(value, str) or _INSTANT.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except OverflowError:
        return True
    return False


def longer_than_a_year(value: Any) -> bool:
    if not isinstance(value, str) or _DURATION.fullmatch(value) is None:
        return False
    parts = _PARTS.fullmatch(value)
    assert parts is not None
    w, d, h, m, s = (int(part or 0) for part in parts.groups())
    return ((w * 7 + d) * 24 + h) * 3600 + m * 60 + s > 366 * 86400


def integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def closing_not_after_opening(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
        and value[0] >= value[1]
    )


def period_backwards(document: dict[str, Any]) -> bool:
    data = document.get("data")
    try:
        return date.fromisoformat(data["period_end"]) < date.fromisoformat(data["period_start"])
    except (TypeError, KeyError, ValueError):
        return False


def _length(duration: Any, clock: Any) -> timedelta | None:
    if not isinstance(duration, str) or _DURATION.fullmatch(duration) is None:
        return None
    parts = _PARTS.fullmatch(duration)
    assert parts is not None
    w, d, h, m, s = (int(part or 0) for part in parts.groups())
    day = timedelta(hours=8) if clock == "business" else timedelta(days=1)
    return (w * 7 + d) * day + timedelta(hours=h, minutes=m, seconds=s)


def warning_not_first(document: dict[str, Any], field: str) -> bool:
    """A target's ``warn_after`` not shorter than its ``duration`` (a day of 24 hours, or 8
    on the business clock)."""
    if not field.endswith(".warn_after"):
        return False
    target = at_path(document, field.removesuffix(".warn_after"))
    if not isinstance(target, dict) or target.get("clock") not in ("24x7", "business"):
        return False
    warn = _length(target.get("warn_after"), target["clock"])
    whole = _length(target.get("duration"), target["clock"])
    return warn is not None and whole is not None and warn >= whole


def _respelt_ledger(value: Any) -> bool:
    return isinstance(value, str) and value != "ledger" and actor_key(value) == "ledger"


def inexpressible(document: dict[str, Any], error: WireError) -> str | None:
    """Which documented inexpressible check explains the ledger's rejection, if any."""
    value = at_path(document, error.field)
    if utc_overflows(value):
        return "instant whose UTC form overflows"
    if (error.rule, error.field) == ("R-IN-8", "actor.id") and _respelt_ledger(value):
        return "ledger actor id written otherwise"
    if longer_than_a_year(value):
        return "policy duration over 366 days"
    if integral_float(value):
        return "integer written as 1.0"
    if error.field.startswith("data.calendar.hours.") and closing_not_after_opening(value):
        return "opening hours end before they start"
    if error.field == "data.period_end" and period_backwards(document):
        return "usage period ends before it starts"
    if warning_not_first(document, error.field):
        return "warning not before its target"
    return None


# Valid envelopes, and mutants of them ----------------------------------------------------
_ROLES = [
    "customer",
    "support_engineer",
    "platform_engineer",
    "security_infra_lead",
    "leadership",
    "customer_success",
]
_LABEL_CHARS = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])
labels = st.text(_LABEL_CHARS, min_size=1, max_size=20).filter(lambda s: actor_key(s) != "ledger")
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat())


# Optional fields filled in, so that mutants reach them too.
RICH: dict[str, dict[str, Any]] = {
    "ticket.opened": {
        **MINIMAL["ticket.opened"][1],
        "reason": "filed high on purpose",
        "product_area": "dubbing",
    },
    "ticket.triaged": {**MINIMAL["ticket.triaged"][1], "product_area": "subtitle-export"},
    "rca.root_cause_identified": {
        **MINIMAL["rca.root_cause_identified"][1],
        "product_area": "storage_2",
    },
    "rca.preventive_action_completed": {"action_id": "PA-1", "note": "deployed"},
    "rca.preventive_action_verified": {"action_id": "PA-1", "note": "checked"},
    "incident.detected": {"at": "2026-03-27T16:30:00+01:00", "note": "paged"},
    "customer.feedback_recorded": {
        **MINIMAL["customer.feedback_recorded"][1],
        "ticket_id": "T-7",
    },
    "ticket.escalated": {**MINIMAL["ticket.escalated"][1], "escalated_to": "pe-li"},
    "customer.survey_recorded": {"kind": "csat", "score": 5, "ticket_id": "T-7"},
    "customer.onboarded": {
        **MINIMAL["customer.onboarded"][1],
        "calendar": {
            "timezone": "America/New_York",
            "hours": {"mon": ["09:00", "17:00"], "sat": ["10:00", "24:00"]},
            "holidays": ["2026-12-25"],
            "hours_per_business_day": 7.5,
        },
    },
    "customer.calendar_change_proposed": {
        **MINIMAL["customer.calendar_change_proposed"][1],
        "calendar": {
            "timezone": "Europe/Berlin",
            "hours": {"mon": ["08:00", "16:00"], "fri": ["08:00", "12:00"]},
            "holidays": ["2027-01-01", "2027-12-24"],
            "hours_per_business_day": 6,
        },
    },
    "sla_policy.change_proposed": {
        **MINIMAL["sla_policy.change_proposed"][1],
        "targets": {
            "1": {
                "first_response": {"duration": "PT1H", "clock": "24x7"},
                "update_every": {"duration": "P1D", "clock": "business", "warn_after": "PT6H"},
            }
        },
    },
    "customer.exception_requested": {
        **MINIMAL["customer.exception_requested"][1],
        "targets": {
            "2": {
                "first_response": {"duration": "PT2H", "clock": "24x7", "warn_after": "PT90M"},
                "update_every": None,
            }
        },
    },
}


def _leaves(value: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [leaf for key, inner in value.items() for leaf in _leaves(inner, (*prefix, key))]
    return [prefix]


ENVELOPE_LEAVES = [leaf for leaf in _leaves(envelope("ticket.opened"), ()) if leaf[0] != "data"]
DATA_LEAVES = sorted(
    (event_type, leaf)
    for event_type in PRODUCER_TYPES
    for leaf in _leaves(RICH.get(event_type, MINIMAL[event_type][1]), ("data",))
)


def _valid(event_type: str) -> dict[str, Any]:
    return envelope(event_type, copy.deepcopy(RICH.get(event_type, MINIMAL[event_type][1])))


@st.composite
def valid_envelopes(draw: st.DrawFn, event_type: str | None = None) -> dict[str, Any]:
    if event_type is None:
        event_type = draw(st.sampled_from(sorted(PRODUCER_TYPES)))
    document = _valid(event_type)
    subject = MINIMAL[event_type][0]
    if subject.startswith("T-"):
        document["subject"] = draw(st.from_regex(TICKET_ID_PATTERN[:-1] + r"\Z"))
    elif subject.startswith("C-"):
        document["subject"] = draw(st.from_regex(CUSTOMER_ID_PATTERN[:-1] + r"\Z"))
    document["event_id"] = str(draw(st.uuids()))
    document["occurred_at"] = draw(instants)
    document["source"] = draw(labels)
    document["actor"] = {"id": draw(labels), "role": draw(st.sampled_from(_ROLES))}
    return document


INT64 = 2**63
INTEGERS = [0, -1, 1, 4, 5, 10, 11, 24, 25, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64, 10**30]
FLOATS = [0.0, 1.0, 1.5, -0.5, 8.0, 24.0, 24.5, 1e300, 100.0, 100.5]
BOUNDARY_NUMBERS = st.sampled_from([*INTEGERS, *FLOATS])
ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "x\n",
        "\x00",
        "a\x85b",
        "\u200b",
        "T-1001",
        "T-\uff11\uff10\uff10\uff11",  # fullwidth digits
        "T-1001 ",
        "T-1001\u200b",
        "T-Cafe\u0301",
        "T-1\n",
        "T-",
        "T-.1",
        "T-" + "9" * 126,
        "T-" + "9" * 127,
        "C-42",
        "C-42\n",
        "SLA",
        "ledger",
        "LEDGER",
        " Ledger ",
        "\uff4c\uff45\uff44\uff47\uff45\uff52",  # fullwidth ledger
        "system",
        "x" * 128,
        "x" * 129,
        "2026-03-27T16:30:00+01:00",
        "2026-03-27T16:30:00+01:00\n",
        "2026-03-27T16:30:00",
        "2024-02-29T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-03-27T24:00:00Z",
        "2026-03-27T16:30:60Z",
        "2026-03-27T16:30:00+24:00",
        "2026-03-27T16:30:00+23:59",
        "2026-03-27T16:30:00+01:60",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "2026-03-01",
        "2026-02-30",
        "2026-03-01\n",
        "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b",
        "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b\n",
        "00000000-0000-0000-0000-000000000000",
        "PT1H",
        "PT1H\n",
        "P52W2D",
        "P52W3D",
        "PT8784H",
        "PT8785H",
        "P366D",
        "P367D",
        "P999999W",
        "PT0S",
        "09:00",
        "09:00\n",
        "24:00",
        "17:00",
        "Europe/Berlin",
        "Europe/Berlin\n",
        "Factory",
        "localtime",
        "UTC",
        "120000.00",
        "5\n",
        "-5",
        "csat",
        "nps",
        "enterprise",
        "24x7",
        "business",
        "waiting_on_customer",
        "platform_engineer",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
REPLACEMENTS = st.one_of(
    st.just(...), JSON_VALUES, BOUNDARY_NUMBERS, ODD_STRINGS, ODD_STRINGS.map(lambda s: [s, s])
)
TYPES = st.sampled_from(sorted(PRODUCER_TYPES | SYSTEM_TYPES | {"ticket.snoozed", "Ticket.opened"}))


def _replacement_for(value: Any) -> st.SearchStrategy[Any]:
    """Mostly values near the field's own kind (boundary numbers for a number, odd
    strings for a string), else anything."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return st.one_of(BOUNDARY_NUMBERS, BOUNDARY_NUMBERS, REPLACEMENTS)
    if isinstance(value, str):
        return st.one_of(ODD_STRINGS, ODD_STRINGS, REPLACEMENTS)
    return REPLACEMENTS


def _present(value: Any) -> bool:
    return value is not ...


def _get(document: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    return found


def set_at(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of the document with the value at ``path`` set (removed for ...)."""
    document = copy.deepcopy(document)
    *parents, last = path
    target = document
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return document


@st.composite
def leaf_mutants(draw: st.DrawFn) -> dict[str, Any]:
    """One leaf of the envelope or of some type's data, replaced by a value near its kind."""
    event_type, path = draw(
        st.sampled_from(DATA_LEAVES)
        | st.tuples(st.sampled_from(sorted(PRODUCER_TYPES)), st.sampled_from(ENVELOPE_LEAVES))
    )
    document = draw(valid_envelopes(event_type))
    return set_at(document, path, draw(_replacement_for(_get(document, path))))


@st.composite
def mutants(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(valid_envelopes())
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["replace", "replace", "replace", "insert", "type"]))
        paths = _paths(document)
        if kind == "type":
            document["type"] = draw(TYPES)
        elif kind == "insert":
            parents = [p for p in paths if isinstance(_get(document, p), dict)]
            parent = draw(st.sampled_from([(), *parents]))
            key = draw(st.sampled_from(["mood", "hours", "1", "reason", "x\x00"]))
            document = set_at(document, (*parent, key), draw(REPLACEMENTS.filter(_present)))
        else:
            path = draw(st.sampled_from(paths))
            document = set_at(document, path, draw(_replacement_for(_get(document, path))))
    return document


# The tests ---------------------------------------------------------------------------------


def test_the_branches_are_told_apart_by_a_const_type() -> None:
    assert sorted(BRANCH) == sorted(PRODUCER_TYPES)
    assert set(SCHEMA["$defs"]["Actor"]["properties"]["role"]["enum"]) == set(_ROLES)
    ledger_types = {
        LEDGER_SCHEMA["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"]
        for ref in LEDGER_SCHEMA["oneOf"]
    }
    assert ledger_types == SYSTEM_TYPES


@pytest.mark.parametrize("event_type", sorted(PRODUCER_TYPES))
def test_the_whole_one_of_and_its_branch_agree(event_type: str) -> None:
    document = envelope(event_type)
    assert VALIDATOR.is_valid(document) and schema_accepts(document)
    for broken in (changed(document, "data", ...), changed(document, "actor.role", "system")):
        assert not VALIDATOR.is_valid(broken) and not schema_accepts(broken)
    assert not VALIDATOR.is_valid(changed(document, "type", "ticket.snoozed"))


def test_ledger_written_events_are_valid_under_their_schema() -> None:
    validator = Draft202012Validator(LEDGER_SCHEMA, format_checker=FORMATS)
    for event_type in sorted(SYSTEM_TYPES):
        document = envelope(event_type, actor={"id": "ledger", "role": "system"})
        assert validator.is_valid(document)
        assert not VALIDATOR.is_valid(document)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(st.one_of(valid_envelopes(), mutants(), leaf_mutants(), leaf_mutants()))
def test_the_schema_and_the_ledger_agree(document: dict[str, Any]) -> None:
    agree(document)


def agree(document: dict[str, Any]) -> None:
    """Both accept, both reject, or the ledger rejects for a documented inexpressible check."""
    text = json.dumps(document)
    wire = json.loads(text)  # what a validator of the JSON text sees
    by_schema = schema_accepts(wire)
    error = ledger_verdict(text)
    if error is None:
        assert by_schema, f"the ledger accepts what the schema rejects: {text}"
    elif by_schema:
        assert inexpressible(wire, error) is not None, (
            f"the schema accepts what the ledger rejects ({error}): {text}"
        )


# Every leaf of every producer type, swept with the values near its kind: random mutants
# rarely hit one field with one bound, so the bounds are also walked through in order.
SWEEP_STRINGS = [
    "",
    " ",
    "x\n",
    "\x00",
    "a\x85b",
    "T-\uff11",
    "T-1 ",
    "T-1\n",
    "T-" + "9" * 126,
    "T-" + "9" * 127,
    "C-1",
    "C-" + "9" * 127,
    "ledger",
    "Ledger",
    "system",
    "x" * 128,
    "x" * 129,
    "0001-01-01T00:00:00+14:00",
    "2026-02-29T00:00:00Z",
    "2026-03-27T16:30:00+01:00\n",
    "2026-03-01",
    "2026-02-30",
    "00000000-0000-0000-0000-000000000000",
    "P52W3D",
    "P999999W",
    "PT1H\n",
    "09:00\n",
    "Factory",
    "5\n",
]


def _kind_leaves(kind: type) -> list[tuple[str, tuple[str, ...]]]:
    envelope_leaves = [("ticket.opened", leaf) for leaf in ENVELOPE_LEAVES]
    return [
        (event_type, leaf)
        for event_type, leaf in [*envelope_leaves, *DATA_LEAVES]
        if type(_get(_valid(event_type), leaf)) is kind
    ]


def test_every_number_leaf_at_its_bounds() -> None:
    leaves = _kind_leaves(int) + _kind_leaves(float)
    assert len(leaves) >= 10
    for event_type, leaf in leaves:
        for value in [*INTEGERS, *FLOATS]:
            agree(set_at(_valid(event_type), leaf, value))


def test_every_string_leaf_with_odd_strings() -> None:
    leaves = _kind_leaves(str)
    assert len(leaves) >= 60
    for event_type, leaf in leaves:
        for value in SWEEP_STRINGS:
            agree(set_at(_valid(event_type), leaf, value))


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        ("occurred_at", "0001-01-01T00:00:00+14:00", "instant whose UTC form overflows"),
        ("occurred_at", "9999-12-31T23:59:59-12:00", "instant whose UTC form overflows"),
        ("actor.id", "Ledger", "ledger actor id written otherwise"),
        ("actor.id", " ledger", "ledger actor id written otherwise"),
        ("data.severity", 1.0, "integer written as 1.0"),
    ],
)
def test_each_documented_exception_is_one(path: str, value: Any, check: str) -> None:
    document = json.loads(json.dumps(changed(envelope("ticket.opened"), path, value)))
    error = ledger_verdict(json.dumps(document))
    assert error is not None and schema_accepts(document)
    assert inexpressible(document, error) == check


def test_the_policy_and_calendar_exceptions() -> None:
    targets = {"1": {"first_response": {"duration": "P53W", "clock": "24x7"}}}
    proposal = changed(envelope("sla_policy.change_proposed"), "data.targets", targets)
    hours = changed(
        envelope("customer.onboarded"), "data.calendar.hours", {"mon": ["17:00", "09:00"]}
    )
    usage = changed(envelope("customer.usage_reported"), "data.period_end", "2026-02-01")
    late = {"duration": "P1D", "clock": "business", "warn_after": "PT8H"}
    warning = changed(
        envelope("sla_policy.change_proposed"),
        "data.targets",
        {"1": {"first_response": TARGET, "update_every": late}},
    )
    for document, check in (
        (proposal, "policy duration over 366 days"),
        (hours, "opening hours end before they start"),
        (usage, "usage period ends before it starts"),
        (warning, "warning not before its target"),
    ):
        error = ledger_verdict(json.dumps(document))
        assert error is not None and schema_accepts(document)
        assert inexpressible(document, error) == check


def test_the_exceptions_do_not_excuse_their_neighbours() -> None:
    """Just inside each bound, both accept; a plain wrong value is not excused."""
    for path, value in (
        ("occurred_at", "0001-01-01T00:00:00Z"),
        ("occurred_at", "9999-12-31T23:59:59Z"),
        ("actor.id", "ledgers"),
    ):
        document = changed(envelope("ticket.opened"), path, value)
        assert ledger_verdict(json.dumps(document)) is None and schema_accepts(document)
    document = changed(envelope("ticket.opened"), "occurred_at", "2026-02-29T00:00:00Z")
    error = ledger_verdict(json.dumps(document))
    assert error is not None and not schema_accepts(document)
    assert inexpressible(document, error) is None
    assert timedelta(days=366) == timedelta(weeks=52, days=2)
