"""The wire contract (event-contract.md): what parses, and what is rejected with which
rule id and field."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import (
    DEFAULT_SCHEMA_DIR,
    ENVELOPE_MODELS,
    PRODUCER_TYPES,
    RULE_FOR_FIELD,
    SYSTEM_TYPES,
    CustomerOnboarded,
    CustomerRenewed,
    CustomerSurveyRecorded,
    Envelope,
    SlaBreached,
    SlaPolicyChangeProposed,
    TicketOpened,
    WireError,
    envelope_to_wire,
    expected_json_schemas,
    export_json_schemas,
    parse_envelope,
)

EXAMPLE: dict[str, Any] = {  # verbatim from event-contract.md
    "event_id": "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b",
    "type": "ticket.opened",
    "schema_version": 1,
    "occurred_at": "2026-03-27T16:30:00+01:00",
    "source": "support-portal",
    "actor": {"id": "u-881", "role": "customer"},
    "subject": "T-1001",
    "data": {
        "customer_id": "C-42",
        "channel": "support_portal",
        "title": "Dubbing jobs fail",
        "description": "All dubbing jobs fail since 16:10",
        "severity": 1,
        "category": "platform_down",
    },
}

AT = "2026-03-27T16:30:00Z"
TARGET = {"duration": "PT1H", "clock": "24x7"}
CALENDAR = {"timezone": "Europe/Berlin"}
CONTACT = {"name": "Dana Decider", "email": "dana@acme.example"}

# type -> (subject, the smallest valid data)
MINIMAL: dict[str, tuple[str, dict[str, Any]]] = {
    "ticket.opened": ("T-1", EXAMPLE["data"]),
    "ticket.triaged": ("T-1", {"severity": 2, "category": "partial_outage", "reason": ""}),
    "ticket.assigned": ("T-1", {"assignee": "se-ana"}),
    "ticket.responded": ("T-1", {"public": True, "message": "Looking into it"}),
    "ticket.update_posted": ("T-1", {"message": "Still on it"}),
    "ticket.status_changed": ("T-1", {"status": "waiting_on_customer"}),
    "ticket.escalated": ("T-1", {"to_tier": "platform_engineer", "reason": "needs infra"}),
    "ticket.deescalated": ("T-1", {"to_tier": "support_engineer", "reason": "fixed"}),
    "ticket.temporary_fix_applied": (
        "T-1",
        {"description": "restart", "expires_at": AT, "owner": "pe-li"},
    ),
    "ticket.permanent_fix_applied": ("T-1", {"description": "patched"}),
    "ticket.resolved": ("T-1", {"resolution": "certificate renewed"}),
    "ticket.reopened": ("T-1", {"reason": "back again"}),
    "ticket.closed": ("T-1", {}),
    "rca.root_cause_identified": ("T-1", {"root_cause": "expired cert", "root_cause_code": "C"}),
    "rca.impact_assessed": (
        "T-1",
        {"impact": "all jobs failed", "customers_affected": 0, "duration_minutes": 0},
    ),
    "rca.preventive_action_added": (
        "T-1",
        {"action_id": "PA-1", "description": "alert", "owner": "pe-li", "due_date": "2026-04-01"},
    ),
    "rca.owner_assigned": ("T-1", {"owner": "pe-li"}),
    "rca.timeline_entry_added": ("T-1", {"at": AT, "entry": "paged on-call"}),
    "rca.published": ("T-1", {}),
    "rca.preventive_action_completed": ("T-1", {"action_id": "PA-1"}),
    "rca.preventive_action_verified": ("T-1", {"action_id": "PA-1"}),
    "rca.preventive_action_cancelled": ("T-1", {"action_id": "PA-1", "reason": ""}),
    "rca.knowledge_linked": ("T-1", {"kind": "runbook", "ref": "RB-1", "title": "Failover"}),
    "incident.impact_started": ("T-1", {"at": AT}),
    "incident.detected": ("T-1", {"at": AT}),
    "incident.mitigated": ("T-1", {"at": AT}),
    "customer.onboarded": (
        "C-1",
        {
            "name": "Acme",
            "tier": "enterprise",
            "calendar": CALENDAR,
            "success_owner": "cs-jo",
            "escalation_contact": "ops@acme.example",
            "decision_maker": CONTACT,
        },
    ),
    "customer.owner_changed": ("C-1", {"success_owner": "cs-max", "reason": "rotation"}),
    "customer.check_in_scheduled": ("C-1", {"check_in_id": "CI-1", "due_at": AT}),
    "customer.check_in_completed": ("C-1", {"check_in_id": "CI-1", "notes": "fine"}),
    "customer.milestone_reached": ("C-1", {"milestone": "first_video"}),
    "customer.usage_reported": (
        "C-1",
        {
            "period_start": "2026-03-01",
            "period_end": "2026-03-01",
            "active_users": 0,
            "videos_localized": 0,
            "error_count": 0,
        },
    ),
    "customer.survey_recorded": ("C-1", {"kind": "nps", "score": 0}),
    "customer.renewed": ("C-1", {"arr": "120000.00", "reason": "happy"}),
    "customer.churned": ("C-1", {"arr": "0", "reason": "budget"}),
    "customer.contract_changed": ("C-1", {"arr": "0", "reason": "R-REV-1 is the domain's"}),
    "play.outreach_logged": ("C-1", {"play_id": "P-1-1", "channel": "call", "note": ""}),
    "play.closed": ("C-1", {"play_id": "P-1-1", "outcome": "retained", "note": ""}),
    "customer.feedback_recorded": (
        "C-1",
        {"feedback_id": "FB-1", "kind": "ux", "product_area": "editor", "text": "slow"},
    ),
    "sla_policy.change_proposed": (
        "SLA",
        {"proposal_id": "P-1", "targets": {"1": {"first_response": TARGET}}, "effective_at": AT},
    ),
    "sla_policy.change_approved": ("SLA", {"proposal_id": "P-1"}),
    "customer.calendar_change_proposed": (
        "C-1",
        {"proposal_id": "CAL-1", "calendar": CALENDAR, "effective_at": AT},
    ),
    "customer.calendar_change_approved": ("C-1", {"proposal_id": "CAL-1"}),
    "customer.exception_requested": (
        "C-1",
        {
            "exception_id": "EXC-1",
            "kind": "sla_targets",
            "targets": {"1": {"first_response": TARGET}},
            "reason": "launch week",
            "effective_at": AT,
            "expires_at": "2026-04-27T16:30:00Z",
        },
    ),
    "customer.exception_approved": ("C-1", {"exception_id": "EXC-1"}),
    "sla.breached": ("T-1", {"timer": "first_response", "due_at": AT, "policy_version": 1}),
    "sla.warning": (
        "T-1",
        {"timer": "update", "warn_at": AT, "due_at": AT, "policy_version": 1},
    ),
    "customer.exception_expired": ("C-1", {"exception_id": "EXC-1", "expires_at": AT}),
    "fix.temporary_expired": ("T-1", {"expires_at": AT, "owner": "pe-li"}),
    "customer.churn_risk_raised": ("C-1", {"reason": "silent for 30 days"}),
    "play.opened": (
        "C-1",
        {
            "play_id": "P-1-1",
            "risk": "silent",
            "reason": "silent: no engagement since 2026-02-01T00:00:00+00:00",
            "owner": "cs-jo",
            "due_at": AT,
            "churn_risk_event_id": "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b",
        },
    ),
    "play.overdue": ("C-1", {"play_id": "P-1-1", "owner": "cs-jo", "due_at": AT}),
    "rca.action_overdue": (
        "T-1",
        {"action_id": "PA-1", "owner": "pe-li", "due_date": "2026-03-26", "due_at": AT},
    ),
    "customer.data_erased": (
        "C-1",
        {
            "fields": ["decision_maker"],
            "subjects": 1,
            "events": 1,
            "rejections": 0,
            "deferred": 0,
            "deliveries": 0,
            "reason": "GDPR Art. 17 request",
        },
    ),
    "audit.export_recorded": (
        "AUDIT",
        {
            "purpose": "SOC 2 audit",
            "selection": {
                "customer": None,
                "occurred_from": AT,
                "occurred_before": None,
                "redacted_fields": ["decision_maker"],
                "format": "jsonl",
            },
            "records": 3,
            "subjects": 2,
            "checkpoint": 1,
            "manifest_sha256": "0" * 64,
        },
    ),
}

CONTRACT_TYPES = set(MINIMAL)  # every type event-contract.md names


def envelope(event_type: str, data: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A valid envelope of the type (its minimal data unless given), fields overridden."""
    subject, minimal = MINIMAL[event_type]
    document = copy.deepcopy(EXAMPLE)
    document.update(type=event_type, subject=subject, data=copy.deepcopy(minimal))
    if data is not None:
        document["data"] = data
    document.update(fields)
    return document


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the document with the dotted path set to value (removed for ...)."""
    document = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = document
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return document


M = TypeVar("M", bound=Envelope)


def parsed(raw: Any, model: type[M], *, allow_system: bool = False) -> M:
    """The input parsed, checked to be of the model."""
    result = parse_envelope(raw, allow_system=allow_system)
    assert isinstance(result, model)
    return result


def rejected(raw: Any, *, allow_system: bool = False) -> WireError:
    with pytest.raises(WireError) as caught:
        parse_envelope(raw, allow_system=allow_system)
    error = caught.value
    assert error.reason.startswith(error.field + ":"), error.reason
    return error


def outcome(raw: Any) -> tuple[str, str] | dict[str, Any]:
    """What became of an input: its rule and field, or the envelope as wire data."""
    try:
        return envelope_to_wire(parse_envelope(raw))
    except WireError as error:
        return error.rule, error.field


# What parses ---------------------------------------------------------------------------


def test_the_contract_example_parses() -> None:
    opened = parsed(orjson.dumps(EXAMPLE), TicketOpened)
    assert opened.data.severity == 1 and opened.data.reason is None
    assert str(opened.event_id) == EXAMPLE["event_id"]
    offset = opened.occurred_at.utcoffset()
    assert offset is not None and offset.total_seconds() == 3600
    assert envelope_to_wire(opened) == EXAMPLE | {
        "data": EXAMPLE["data"] | {"reason": None, "product_area": None}
    }


def test_the_models_cover_the_contract() -> None:
    assert set(ENVELOPE_MODELS) == CONTRACT_TYPES
    assert PRODUCER_TYPES | SYSTEM_TYPES == CONTRACT_TYPES
    assert not PRODUCER_TYPES & SYSTEM_TYPES
    assert {
        "sla.breached",
        "sla.warning",
        "fix.temporary_expired",
        "customer.churn_risk_raised",
        "customer.exception_expired",
        "rca.action_overdue",
        "play.opened",
        "play.overdue",
        "customer.data_erased",
        "audit.export_recorded",
    } == SYSTEM_TYPES


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_every_type_has_a_minimal_example_that_round_trips(event_type: str) -> None:
    document = envelope(event_type)
    result = parse_envelope(document, allow_system=True)
    assert type(result) is ENVELOPE_MODELS[event_type]
    wire = envelope_to_wire(result)
    assert parse_envelope(orjson.dumps(wire), allow_system=True) == result
    assert parse_envelope(json.dumps(document), allow_system=True) == result


def test_a_mapping_a_text_and_bytes_agree() -> None:
    document = envelope("customer.renewed")
    assert parse_envelope(document) == parse_envelope(json.dumps(document))
    assert parse_envelope(document) == parse_envelope(orjson.dumps(document))
    assert parse_envelope(MappingProxyType(document)) == parse_envelope(document)


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [  # values the domain layer judges, with its own rule id
        ("ticket.opened", "data.channel", "phone"),
        ("ticket.opened", "data.severity", 9),
        ("ticket.opened", "data.severity", 0),
        ("ticket.opened", "data.category", "billing"),
        ("ticket.opened", "data.reason", " "),
        ("ticket.triaged", "data.reason", ""),
        ("ticket.escalated", "data.reason", ""),
        ("ticket.deescalated", "data.reason", ""),
        ("ticket.resolved", "data.resolution", ""),
        ("customer.onboarded", "data.success_owner", ""),
        ("customer.onboarded", "data.escalation_contact", " "),
        ("customer.onboarded", "data.decision_maker", {"name": "", "email": ""}),
        ("customer.onboarded", "data.tier", "self_serve"),
        ("rca.preventive_action_added", "data.owner", ""),
        ("customer.contract_changed", "data.arr", "0"),
        ("play.closed", "data.note", " "),
    ],
)
def test_lenient_fields_let_any_value_of_their_type_through(
    event_type: str, path: str, value: Any
) -> None:
    parse_envelope(changed(envelope(event_type), path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("occurred_at", "2026-03-27T16:30:00.123456Z"),
        ("occurred_at", "2026-03-27t16:30:00-00:00"),
        ("event_id", "6F1C2A9E-3B8D-4E0F-9A55-0C1D2E3F4A5B"),
        ("actor.role", "customer_success"),
    ],
)
def test_iso_strings_are_accepted_in_strict_mode(path: str, value: Any) -> None:
    parse_envelope(changed(EXAMPLE, path, value))


def test_calendars_and_targets_in_full() -> None:
    calendar = {
        "timezone": "America/New_York",
        "hours": {"mon": ["00:00", "24:00"], "sat": ["10:00", "12:30"]},
        "holidays": ["2026-12-25"],
        "hours_per_business_day": 24,
    }
    document = changed(envelope("customer.onboarded"), "data.calendar", calendar)
    onboarded = parsed(document, CustomerOnboarded)
    assert onboarded.data.calendar.hours == {"mon": ("00:00", "24:00"), "sat": ("10:00", "12:30")}
    default = parsed(envelope("customer.onboarded"), CustomerOnboarded).data.calendar
    assert (default.hours, default.holidays, default.hours_per_business_day) == (None, [], 8.0)
    targets = {
        "2": {"first_response": {"duration": "PT4H", "clock": "24x7"}, "update_every": None},
        "3": {"first_response": {"duration": "P1W2DT3H4M5S", "clock": "business"}},
        "4": {
            "first_response": {"duration": "P2D", "clock": "business"},
            "update_every": {"duration": "PT30M", "clock": "24x7"},
        },
    }
    document = changed(envelope("sla_policy.change_proposed"), "data.targets", targets)
    proposed = parsed(document, SlaPolicyChangeProposed)
    assert sorted(proposed.data.targets) == ["2", "3", "4"]


# What is rejected, with which rule and field -------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "rule", "field"),
    [
        ("mood", "happy", "R-WIRE-2", "mood"),
        ("data.mood", "happy", "R-WIRE-2", "data.mood"),
        ("actor.mood", "happy", "R-WIRE-2", "actor.mood"),
        ("occurred_at", "2026-03-27T16:30:00", "R-WIRE-2", "occurred_at"),
        ("occurred_at", "2026-03-27T16:30+01:00", "R-WIRE-2", "occurred_at"),
        ("occurred_at", "2026-03-27 16:30:00+01:00", "R-WIRE-2", "occurred_at"),
        ("occurred_at", "2026-02-30T16:30:00Z", "R-WIRE-2", "occurred_at"),
        ("occurred_at", 1774625400, "R-WIRE-2", "occurred_at"),
        ("type", "ticket.snoozed", "R-WIRE-3", "type"),
        ("type", 5, "R-WIRE-2", "type"),
        ("type", ..., "R-WIRE-2", "type"),
        ("schema_version", 2, "R-WIRE-3", "schema_version"),
        ("schema_version", "1", "R-WIRE-2", "schema_version"),
        ("schema_version", ..., "R-WIRE-2", "schema_version"),
        ("type", "sla.breached", "R-WIRE-4", "type"),
        ("event_id", "not-a-uuid", "R-WIRE-2", "event_id"),
        ("event_id", "6f1c2a9e3b8d4e0f9a550c1d2e3f4a5b", "R-WIRE-2", "event_id"),
        ("event_id", 42, "R-WIRE-2", "event_id"),
        ("actor.role", "intern", "R-WIRE-2", "actor.role"),
        ("actor.id", "", "R-WIRE-2", "actor.id"),
        ("actor", "u-881", "R-WIRE-2", "actor"),
        ("source", "", "R-WIRE-2", "source"),
        ("source", ..., "R-WIRE-2", "source"),
        ("subject", "C-42", "R-WIRE-2", "subject"),
        ("subject", "T-", "R-WIRE-2", "subject"),
        ("actor.role", "system", "R-IN-8", "actor.role"),
        ("actor.id", "ledger", "R-IN-8", "actor.id"),
        ("data", None, "R-WIRE-2", "data"),
        ("data.severity", "1", "R-IN-3", "data.severity"),
        ("data.severity", 1.5, "R-IN-3", "data.severity"),
        ("data.severity", 1.0, "R-IN-3", "data.severity"),
        ("data.severity", True, "R-IN-3", "data.severity"),
        ("data.category", ..., "R-IN-3", "data.category"),
        ("data.channel", ..., "R-IN-1", "data.channel"),
        ("data.channel", 7, "R-IN-1", "data.channel"),
        ("data.title", None, "R-WIRE-2", "data.title"),
        ("data.reason", 1, "R-WIRE-2", "data.reason"),
    ],
)
def test_bad_fields_are_named(path: str, value: Any, rule: str, field: str) -> None:
    error = rejected(orjson.dumps(changed(EXAMPLE, path, value)))
    assert (error.rule, error.field) == (rule, field)


HOLIDAY = "data.calendar.holidays.0"
FIRST_RESPONSE = "data.targets.1.first_response"


@pytest.mark.parametrize(
    ("event_type", "path", "value", "rule", "field"),
    [
        ("ticket.temporary_fix_applied", "data.expires_at", "2026-04-01T00:00:00", "R-FIX-2", None),
        ("rca.timeline_entry_added", "data.at", "2026-04-01T00:00:00", "R-WIRE-2", None),
        ("customer.check_in_scheduled", "data.due_at", "2026-04-01", "R-WIRE-2", None),
        ("ticket.responded", "data.public", "true", "R-WIRE-2", None),
        ("ticket.responded", "data.public", 1, "R-WIRE-2", None),
        ("ticket.status_changed", "data.status", "resolved", "R-WIRE-2", None),
        ("ticket.escalated", "data.to_tier", "support_engineer", "R-ESC-1", None),
        ("ticket.deescalated", "data.to_tier", "leadership", "R-ESC-1", None),
        ("ticket.closed", "data.note", "x", "R-WIRE-2", None),
        ("rca.published", "data.note", "x", "R-WIRE-2", None),
        ("rca.impact_assessed", "data.customers_affected", -1, "R-WIRE-2", None),
        ("rca.impact_assessed", "data.duration_minutes", 1.5, "R-WIRE-2", None),
        ("rca.preventive_action_added", "data.due_date", "2026-04-01T00:00:00Z", "R-RCA-2", None),
        ("rca.preventive_action_added", "data.due_date", "01.04.2026", "R-RCA-2", None),
        ("customer.onboarded", "subject", "T-1", "R-WIRE-2", None),
        ("customer.onboarded", "data.tier", "gold", "R-WIRE-2", None),
        ("customer.onboarded", "data.decision_maker", "Dana", "R-CS-1", None),
        ("customer.onboarded", "data.decision_maker.email", ..., "R-CS-1", None),
        ("customer.onboarded", "data.calendar.timezone", "Mars/Olympus", "R-WIRE-2", None),
        ("customer.onboarded", "data.calendar.timezone", "America", "R-WIRE-2", None),
        ("customer.onboarded", "data.calendar.timezone", "../etc/passwd", "R-WIRE-2", None),
        ("customer.onboarded", "data.calendar.hours_per_business_day", 0, "R-WIRE-2", None),
        ("customer.onboarded", "data.calendar.hours_per_business_day", 24.5, "R-WIRE-2", None),
        ("customer.onboarded", "data.calendar.holidays", ["2026-13-01"], "R-WIRE-2", HOLIDAY),
        ("customer.onboarded", "data.calendar.extra", 1, "R-WIRE-2", None),
        ("customer.usage_reported", "data.period_end", "2026-02-28", "R-WIRE-2", None),
        ("customer.usage_reported", "data.error_count", -1, "R-WIRE-2", None),
        ("customer.survey_recorded", "data.kind", "ces", "R-WIRE-2", None),
        ("customer.survey_recorded", "data.score", 11, "R-WIRE-2", None),
        ("customer.renewed", "data.arr", 120000, "R-WIRE-2", None),
        ("customer.renewed", "data.arr", 120000.5, "R-WIRE-2", None),
        ("customer.renewed", "data.arr", "-5.00", "R-WIRE-2", None),
        ("customer.churned", "data.arr", "1e5", "R-WIRE-2", None),
        ("customer.churned", "data.arr", "NaN", "R-WIRE-2", None),
        ("sla_policy.change_proposed", "subject", "SLA-1", "R-WIRE-2", None),
        ("sla_policy.change_proposed", "data.targets", {}, "R-WIRE-2", None),
        ("sla_policy.change_proposed", "data.targets", {"5": {}}, "R-WIRE-2", "data.targets.5"),
        ("sla_policy.change_proposed", "data.targets", {"1": {}}, "R-WIRE-2", FIRST_RESPONSE),
        ("sla_policy.change_approved", "subject", "T-1", "R-WIRE-2", None),
    ],
)  # fmt: skip
def test_bad_data_is_named(
    event_type: str, path: str, value: Any, rule: str, field: str | None
) -> None:
    error = rejected(changed(envelope(event_type), path, value))
    assert (error.rule, error.field) == (rule, field or path)


@pytest.mark.parametrize(("event_type", "field"), sorted(RULE_FOR_FIELD))
def test_a_missing_field_a_domain_rule_is_about_carries_that_rule(
    event_type: str, field: str
) -> None:
    error = rejected(changed(envelope(event_type), field, ...))
    assert (error.rule, error.field) == (RULE_FOR_FIELD[event_type, field], field)


def test_the_domain_rule_table() -> None:
    assert RULE_FOR_FIELD["ticket.opened", "data.channel"] == "R-IN-1"
    assert RULE_FOR_FIELD["ticket.opened", "data.severity"] == "R-IN-3"
    assert RULE_FOR_FIELD["ticket.triaged", "data.reason"] == "R-SEV-1"
    assert RULE_FOR_FIELD["ticket.deescalated", "data.reason"] == "R-ESC-1"
    assert RULE_FOR_FIELD["ticket.resolved", "data.resolution"] == "R-FIX-1"
    assert RULE_FOR_FIELD["customer.onboarded", "data.decision_maker.name"] == "R-CS-1"
    assert RULE_FOR_FIELD["rca.preventive_action_added", "data.due_date"] == "R-RCA-2"
    assert not any(t.startswith("sla_policy.") for t, _ in RULE_FOR_FIELD)


def test_naive_timestamps_are_named() -> None:
    error = rejected(changed(EXAMPLE, "occurred_at", "2026-03-27T16:30:00"))
    assert (error.rule, error.field) == ("R-WIRE-2", "occurred_at")
    assert "offset" in error.reason
    fix = changed(envelope("ticket.temporary_fix_applied"), "data.expires_at", "2026-04-01T09:00")
    assert rejected(fix).field == "data.expires_at"


def test_the_first_problem_is_reported_with_a_count_of_the_others() -> None:
    broken = changed(changed(changed(EXAMPLE, "source", ...), "data.title", 1), "data.x", 2)
    error = rejected(broken)
    assert (error.rule, error.field) == ("R-WIRE-2", "source")
    assert error.reason.endswith("(and 2 more problems)")
    assert rejected(changed(EXAMPLE, "data.title", 1) | {"x": 1}).reason.endswith(
        "(and 1 more problem)"
    )
    assert "more problem" not in rejected(changed(EXAMPLE, "x", 1)).reason


def test_an_unsupported_version_wins_over_other_problems() -> None:
    error = rejected(changed(EXAMPLE, "event_id", "x") | {"schema_version": 2, "data": {}})
    assert (error.rule, error.field) == ("R-WIRE-3", "schema_version")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"   ", b'{"a": 1} x', b"\xef\xbb\xbf{}"])
def test_not_json_is_r_wire_1(raw: bytes) -> None:
    error = rejected(raw)
    assert (error.rule, error.field) == ("R-WIRE-1", "(document)")


@pytest.mark.parametrize("raw", [b"[1, 2]", b"42", b'"x"', b"null", "[]", [EXAMPLE], None])
def test_json_that_is_not_an_object_is_r_wire_1(raw: Any) -> None:
    error = rejected(raw)
    assert (error.rule, error.field) == ("R-WIRE-1", "(document)")


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        orjson.dumps(EXAMPLE).replace(b"Dubbing", b"Dub\xc3bing"),
        json.dumps(EXAMPLE).replace("Dubbing", "Dub\ud800bing"),
        {**EXAMPLE, "data": {1: 2}},
        {**EXAMPLE, "data": {"tags": {"a", "b"}}},
    ],
)
def test_not_utf8_or_not_json_data_is_r_wire_1(raw: Any) -> None:
    assert rejected(raw).rule == "R-WIRE-1"


def test_system_types_parse_only_when_allowed() -> None:
    breach = envelope("sla.breached", actor={"id": "ledger", "role": "system"})
    error = rejected(breach)
    assert (error.rule, error.field) == ("R-WIRE-4", "type")
    assert parsed(breach, SlaBreached, allow_system=True).data.policy_version == 1
    assert rejected(changed(breach, "data.timer", "x")).rule == "R-WIRE-4"
    assert rejected(changed(breach, "data.timer", "x"), allow_system=True).field == "data.timer"


def test_csat_and_nps_ranges() -> None:
    csat = envelope("customer.survey_recorded", {"kind": "csat", "score": 6})
    error = rejected(csat)
    assert (error.rule, error.field) == ("R-WIRE-2", "data.score")
    assert "1 to 5" in error.reason
    for score in (1, 5):
        parse_envelope(changed(csat, "data.score", score))
    assert rejected(changed(csat, "data.score", 0)).field == "data.score"
    nps = envelope("customer.survey_recorded", {"kind": "nps", "score": 10, "ticket_id": "T-1"})
    assert parsed(nps, CustomerSurveyRecorded).data.ticket_id == "T-1"


def test_arr_is_a_decimal_string() -> None:
    renewed = envelope("customer.renewed")
    assert parsed(renewed, CustomerRenewed).data.arr == Decimal("120000.00")
    error = rejected(changed(renewed, "data.arr", 120000))
    assert (error.field, error.rule) == ("data.arr", "R-WIRE-2")
    assert "decimal string" in error.reason
    # From Python a Decimal is written as its decimal string, like on the wire.
    from_python = changed(renewed, "data.arr", Decimal("7.5"))
    assert parsed(from_python, CustomerRenewed).data.arr == Decimal("7.5")
    assert envelope_to_wire(parse_envelope(renewed))["data"]["arr"] == "120000.00"


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        ({"mon": ["17:00", "09:00"]}, "data.calendar.hours.mon"),
        ({"sun": ["24:00", "24:00"]}, "data.calendar.hours.sun"),
        ({"monday": ["09:00", "17:00"]}, "data.calendar.hours.monday"),
        ({"mon": ["9:00", "17:00"]}, "data.calendar.hours.mon.0"),
        ({"mon": ["09:00", "24:01"]}, "data.calendar.hours.mon.1"),
        ({"mon": ["09:00"]}, "data.calendar.hours.mon.1"),
        ({"mon": "09:00-17:00"}, "data.calendar.hours.mon"),
    ],
)
def test_opening_hours(hours: dict[str, Any], field: str) -> None:
    document = changed(envelope("customer.onboarded"), "data.calendar.hours", hours)
    assert rejected(document).field == field


@pytest.mark.parametrize("good", ["PT1H", "P1D", "P2W", "PT30M", "PT1S", "P1W2DT3H4M5S", "P0DT1H"])
def test_good_durations(good: str) -> None:
    targets = {"1": {"first_response": {"duration": good, "clock": "business"}}}
    parse_envelope(changed(envelope("sla_policy.change_proposed"), "data.targets", targets))


@pytest.mark.parametrize(
    "bad", ["", "P", "PT", "P1DT", "PT0S", "P0D", "P1M", "P1Y", "PT1.5H", "1H", "pt1h", "P1H"]
)
def test_bad_durations(bad: str) -> None:
    targets = {"1": {"first_response": {"duration": bad, "clock": "24x7"}}}
    document = changed(envelope("sla_policy.change_proposed"), "data.targets", targets)
    error = rejected(document)
    assert (error.rule, error.field) == ("R-WIRE-2", "data.targets.1.first_response.duration")


def test_wire_errors_are_value_errors_and_pickle() -> None:
    error = rejected(b"[]")
    assert isinstance(error, ValueError) and str(error).startswith("R-WIRE-1")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.rule, copied.field, copied.reason) == (error.rule, error.field, error.reason)


# JSON Schema files ---------------------------------------------------------------------


def test_checked_in_json_schemas_match_the_models() -> None:
    expected = expected_json_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in Path(DEFAULT_SCHEMA_DIR).iterdir()}
    assert on_disk == expected, "schemas/json/ drifted from the models: run `ledger schemas export`"


def test_export_writes_the_producer_and_the_ledger_schema(tmp_path: Path) -> None:
    paths = export_json_schemas(tmp_path / "out")
    assert sorted(p.name for p in paths) == ["envelope.json", "ledger-written.json"]
    first = {p.name: p.read_bytes() for p in paths}
    export_json_schemas(tmp_path / "out")
    assert {p.name: p.read_bytes() for p in paths} == first
    assert all(text.endswith(b"}\n") for text in first.values())
    producer = json.loads(first["envelope.json"])
    assert producer["$id"].endswith("/envelope.json")
    assert producer["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    branches = [producer["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in producer["oneOf"]]
    assert {b["properties"]["type"]["const"] for b in branches} == PRODUCER_TYPES
    assert all(b["additionalProperties"] is False for b in branches)
    assert "system" not in producer["$defs"]["Actor"]["properties"]["role"]["enum"]
    ledger = json.loads(first["ledger-written.json"])
    types = {ledger["$defs"][r["$ref"].rsplit("/", 1)[1]]["title"] for r in ledger["oneOf"]}
    assert types == SYSTEM_TYPES == set(ENVELOPE_MODELS) - PRODUCER_TYPES


def _properties(schema: Any) -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        for name, value in (schema.get("properties") or {}).items():
            found.append((name, value))
        for value in schema.values():
            found.extend(_properties(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_properties(value))
    return found


@pytest.mark.parametrize("name", sorted(expected_json_schemas()))
def test_every_field_is_described(name: str) -> None:
    schema = json.loads(expected_json_schemas()[name])
    undescribed = [field for field, spec in _properties(schema) if not spec.get("description")]
    assert not undescribed, f"{name}: no description for {undescribed}"


# Anything at all -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_or_text_is_an_envelope_or_a_wire_error(raw: bytes | str) -> None:
    try:
        parse_envelope(raw)
    except WireError as error:
        assert error.rule.startswith("R-WIRE-") and error.reason.startswith(error.field)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_any_json_ish_dict_is_an_envelope_or_a_wire_error(document: dict[str, Any]) -> None:
    try:
        parse_envelope(document)
    except WireError as error:
        assert error.rule.startswith("R-") and error.reason.startswith(error.field)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            paths.extend(_paths(inner, (*prefix, key)))
    return paths


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope of any type with one field replaced by any JSON value, or removed."""
    document = envelope(draw(st.sampled_from(sorted(MINIMAL))))
    path = draw(st.sampled_from(_paths(document)))
    value = draw(st.just(...) | json_values)
    return changed(document, ".".join(path), value)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_envelopes())
def test_any_field_replaced_is_handled_alike_from_python_and_from_json(
    document: dict[str, Any],
) -> None:
    result = outcome(document)
    if isinstance(result, dict):  # accepted: it round-trips
        assert outcome(orjson.dumps(result)) == result
    else:
        rule, field = result
        assert rule.startswith("R-") and field
    try:
        text = json.dumps(document, allow_nan=False)
    except ValueError:
        return  # NaN and infinities are not JSON
    assert outcome(text) == result


# Bounds (R-IN-7) -----------------------------------------------------------------------

# (type, field, the rule it carries): every instant of the contract
INSTANT_FIELDS = [
    ("audit.export_recorded", "data.selection.occurred_from", "R-WIRE-2"),
    ("audit.export_recorded", "data.selection.occurred_before", "R-WIRE-2"),
    ("ticket.opened", "occurred_at", "R-WIRE-2"),
    ("sla_policy.change_approved", "occurred_at", "R-WIRE-2"),
    ("rca.timeline_entry_added", "data.at", "R-WIRE-2"),
    ("customer.check_in_scheduled", "data.due_at", "R-WIRE-2"),
    ("ticket.temporary_fix_applied", "data.expires_at", "R-FIX-2"),  # RULE_FOR_FIELD
    ("sla_policy.change_proposed", "data.effective_at", "R-WIRE-2"),
    ("sla.breached", "data.due_at", "R-WIRE-2"),
    ("fix.temporary_expired", "data.expires_at", "R-WIRE-2"),
    ("customer.exception_requested", "data.effective_at", "R-EXC-2"),  # RULE_FOR_FIELD
    ("customer.exception_requested", "data.expires_at", "R-EXC-2"),  # RULE_FOR_FIELD
    ("sla.warning", "data.warn_at", "R-WIRE-2"),
    ("sla.warning", "data.due_at", "R-WIRE-2"),
    ("customer.exception_expired", "data.expires_at", "R-WIRE-2"),
]
# (type, field, the rule it carries): every integer of the contract
INTEGER_FIELDS = [
    ("customer.data_erased", "data.subjects", "R-WIRE-2"),
    ("customer.data_erased", "data.events", "R-WIRE-2"),
    ("customer.data_erased", "data.rejections", "R-WIRE-2"),
    ("customer.data_erased", "data.deferred", "R-WIRE-2"),
    ("customer.data_erased", "data.deliveries", "R-WIRE-2"),
    ("audit.export_recorded", "data.records", "R-WIRE-2"),
    ("audit.export_recorded", "data.checkpoint", "R-WIRE-2"),
    ("ticket.opened", "data.severity", "R-IN-3"),
    ("ticket.triaged", "data.severity", "R-IN-3"),
    ("customer.usage_reported", "data.active_users", "R-WIRE-2"),
    ("customer.usage_reported", "data.videos_localized", "R-WIRE-2"),
    ("customer.usage_reported", "data.error_count", "R-WIRE-2"),
    ("customer.survey_recorded", "data.score", "R-WIRE-2"),
    ("rca.impact_assessed", "data.customers_affected", "R-WIRE-2"),
    ("rca.impact_assessed", "data.duration_minutes", "R-WIRE-2"),
    ("sla.breached", "data.policy_version", "R-WIRE-2"),
    ("sla.warning", "data.policy_version", "R-WIRE-2"),
]


def _schema_nodes(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(_schema_nodes(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_schema_nodes(value))
    return found


def test_the_field_lists_cover_every_instant_and_integer() -> None:
    nodes = [
        n for text in expected_json_schemas().values() for n in _schema_nodes(json.loads(text))
    ]
    integers = [n for n in nodes if n.get("type") == "integer" and "const" not in n]
    assert all(n["minimum"] >= -(2**63) and n["maximum"] <= 2**63 - 1 for n in integers)
    assert {n["title"] for n in integers} == _titles(INTEGER_FIELDS)
    instants = [n for n in nodes if n.get("format") == "date-time" and "title" in n]
    instants += [  # an optional instant: its title is on the anyOf with null
        n for n in nodes if any(a.get("format") == "date-time" for a in n.get("anyOf", []))
    ]
    assert {n["title"] for n in instants} == _titles(INSTANT_FIELDS)


def _titles(fields: list[tuple[str, str, str]]) -> set[str]:
    return {field.split(".")[-1].replace("_", " ").title() for _, field, _ in fields}


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:59:59+01:00"]
)
@pytest.mark.parametrize(("event_type", "field", "rule"), INSTANT_FIELDS)
def test_instants_without_a_utc_form_are_refused(
    event_type: str, field: str, rule: str, value: str
) -> None:
    document = changed(envelope(event_type), field, value)
    error = rejected(orjson.dumps(document), allow_system=True)
    assert (error.rule, error.field) == (rule, field)
    assert "UTC" in error.reason


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59+14:00",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-29T12:00:00Z",
        "2000-02-29T12:00:00+23:59",
    ],
)
def test_instants_at_the_edges_of_utc_parse(value: str) -> None:
    document = changed(envelope("rca.timeline_entry_added"), "data.at", value)
    parse_envelope(document)


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-03-27T24:00:00Z",
        "2026-03-27T16:30:60Z",
        "2026-03-27T16:30:00+24:00",
        "2026-03-27T16:30:00+01:60",
        "2026-03-27T16:30:00+01:00\n",
    ],
)
def test_impossible_instants_are_refused(value: str) -> None:
    error = rejected(changed(EXAMPLE, "occurred_at", value))
    assert (error.rule, error.field) == ("R-WIRE-2", "occurred_at")


@pytest.mark.parametrize(("event_type", "field", "rule"), INTEGER_FIELDS)
@pytest.mark.parametrize("value", [2**63, 2**64, 10**40, -(2**63) - 1])
def test_integers_beyond_64_bits_are_refused_from_bytes_text_and_mappings(
    event_type: str, field: str, rule: str, value: int
) -> None:
    document = changed(envelope(event_type), field, value)
    for raw in (json.dumps(document).encode(), json.dumps(document), document):
        error = rejected(raw, allow_system=True)
        assert (error.rule, error.field) == (rule, field), raw


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("customer.usage_reported", "data.active_users", 2**63 - 1),
        ("rca.impact_assessed", "data.duration_minutes", 2**63 - 1),
        ("ticket.opened", "data.severity", -(2**63)),  # R-IN-3 is the domain's to judge
        ("ticket.opened", "data.severity", 2**63 - 1),
    ],
)
def test_integers_at_the_edges_of_64_bits_parse(event_type: str, field: str, value: int) -> None:
    document = changed(envelope(event_type), field, value)
    assert parse_envelope(document) == parse_envelope(orjson.dumps(document))


def test_a_big_integer_anywhere_in_a_mapping_is_a_wire_error() -> None:
    error = rejected(changed(EXAMPLE, "data.extra", 2**70))
    assert (error.rule, error.field) == ("R-WIRE-2", "data.extra")
    assert rejected({**EXAMPLE, "data": {1: 2**70}}).rule.startswith("R-WIRE-")
    assert rejected(changed(EXAMPLE, "source", 2**64)).field == "source"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "T-\uff11\uff10\uff10\uff11"),  # fullwidth digits
        ("subject", "T-1001 "),
        ("subject", " T-1001"),
        ("subject", "T-1001\u200b"),  # zero-width space
        ("subject", "T-Cafe\u0301"),  # NFD accent
        ("subject", "T-caf\u00e9"),
        ("subject", "T-1001\n"),
        ("subject", "T-.1"),
        ("subject", "T--1"),
        ("subject", "T-1/2"),
        ("subject", "t-1001"),
        ("subject", "T-" + "9" * 127),  # 129 characters
        ("data.customer_id", "C-42 "),
        ("data.customer_id", "C-\uff14\uff12"),
        ("data.customer_id", "42"),
        ("data.customer_id", "T-42"),
        ("event_id", "00000000-0000-0000-0000-000000000000"),
        ("event_id", "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b\n"),
        ("actor.id", "x" * 129),
        ("actor.id", "u-881\n"),
        ("actor.id", "u-\x85881"),
        ("source", "s" * 129),
        ("source", "support-portal\t"),
    ],
)
def test_ids_of_one_ascii_pattern_and_bounded_labels(field: str, value: str) -> None:
    error = rejected(changed(EXAMPLE, field, value))
    assert (error.rule, error.field) == ("R-WIRE-2", field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "T-" + "9" * 126),  # 128 characters
        ("subject", "T-a.b_c-D"),
        ("subject", "T-0"),
        ("data.customer_id", "C-001"),
        ("actor.id", "x" * 128),
        ("actor.id", "Zo\u00eb M\u00fcller"),  # any printable text is an actor id
        ("source", "support portal"),
    ],
)
def test_ids_within_the_bounds_parse(field: str, value: str) -> None:
    parse_envelope(changed(EXAMPLE, field, value))


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("customer.check_in_scheduled", "data.check_in_id"),
        ("customer.check_in_completed", "data.check_in_id"),
        ("rca.preventive_action_added", "data.action_id"),
        ("rca.root_cause_identified", "data.root_cause_code"),
        ("sla_policy.change_proposed", "data.proposal_id"),
        ("sla_policy.change_approved", "data.proposal_id"),
    ],
)
def test_identifiers_in_data_are_bounded_labels(event_type: str, field: str) -> None:
    for value in ("x" * 129, "PA\n1", "a\x7fb"):
        error = rejected(changed(envelope(event_type), field, value))
        assert (error.rule, error.field) == ("R-WIRE-2", field)
    parse_envelope(changed(envelope(event_type), field, "x" * 128))


def test_a_survey_names_its_ticket_by_id() -> None:
    survey = envelope("customer.survey_recorded", {"kind": "csat", "score": 4, "ticket_id": "T-9"})
    assert parsed(survey, CustomerSurveyRecorded).data.ticket_id == "T-9"
    for value in ("T-9 ", "9", "C-9", "T-\uff19"):
        error = rejected(changed(survey, "data.ticket_id", value))
        assert (error.rule, error.field) == ("R-WIRE-2", "data.ticket_id")


@pytest.mark.parametrize("good", ["P52W2D", "P366D", "PT8784H", "PT527040M", "P52WT48H"])
def test_durations_up_to_366_days(good: str) -> None:
    targets = {"1": {"first_response": {"duration": good, "clock": "business"}}}
    parse_envelope(changed(envelope("sla_policy.change_proposed"), "data.targets", targets))


@pytest.mark.parametrize(
    "bad", ["P999999W", "P367D", "P52W3D", "PT8785H", "P366DT1S", "P99999999999999999999999W"]
)
def test_durations_beyond_366_days_are_refused(bad: str) -> None:
    targets = {
        "1": {"first_response": TARGET},
        "2": {"first_response": {"duration": bad, "clock": "business"}, "update_every": None},
    }
    error = rejected(changed(envelope("sla_policy.change_proposed"), "data.targets", targets))
    assert (error.rule, error.field) == ("R-WIRE-2", "data.targets.2.first_response.duration")
    assert "366 days" in error.reason
    targets = {"1": {"first_response": TARGET, "update_every": {"duration": bad, "clock": "24x7"}}}
    error = rejected(changed(envelope("sla_policy.change_proposed"), "data.targets", targets))
    assert error.field == "data.targets.1.update_every.duration"


@pytest.mark.parametrize("zone", ["Factory", "localtime", "posixrules", "Europe/Berlin\n", "utc"])
def test_time_zones_are_the_listed_iana_names(zone: str) -> None:
    error = rejected(changed(envelope("customer.onboarded"), "data.calendar.timezone", zone))
    assert (error.rule, error.field) == ("R-WIRE-2", "data.calendar.timezone")


@pytest.mark.parametrize(
    "zone", ["UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "US/Eastern"]
)
def test_listed_time_zones_parse(zone: str) -> None:
    parse_envelope(changed(envelope("customer.onboarded"), "data.calendar.timezone", zone))


def test_patterns_match_whole_values_only() -> None:
    cases = [
        ("customer.onboarded", "data.calendar.hours", {"mon": ["09:00\n", "17:00"]}),
        ("customer.renewed", "data.arr", "5\n"),
        ("customer.usage_reported", "data.period_start", "2026-03-01\n"),
        ("rca.preventive_action_added", "data.due_date", "2026-02-29"),
    ]
    for event_type, path, value in cases:
        assert rejected(changed(envelope(event_type), path, value)).rule in {"R-WIRE-2", "R-RCA-2"}


# Producers speak for themselves only (R-IN-8) -------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("actor.role", "system", "actor.role"),
        ("actor.id", "ledger", "actor.id"),
        ("actor.id", "Ledger", "actor.id"),
        ("actor.id", " LEDGER ", "actor.id"),
        ("actor.id", "\uff4c\uff45\uff44\uff47\uff45\uff52", "actor.id"),  # fullwidth
    ],
)
def test_producers_cannot_speak_as_the_ledger(path: str, value: str, field: str) -> None:
    error = rejected(orjson.dumps(changed(EXAMPLE, path, value)))
    assert (error.rule, error.field) == ("R-IN-8", field)
    assert parse_envelope(changed(EXAMPLE, path, value), allow_system=True)


def test_a_producer_cannot_stop_a_timer_as_system() -> None:
    response = envelope(
        "ticket.responded",
        {"public": True, "message": "done"},
        actor={"id": "usage-pipeline", "role": "system"},
    )
    error = rejected(response)
    assert (error.rule, error.field) == ("R-IN-8", "actor.role")


def test_a_ledger_type_from_a_producer_is_still_r_wire_4() -> None:
    breach = envelope("sla.breached", actor={"id": "ledger", "role": "system"})
    assert (rejected(breach).rule, rejected(breach).field) == ("R-WIRE-4", "type")


def test_what_the_ledger_writes_itself_parses_with_allow_system() -> None:
    from ledger.services.tick import ACTOR, SOURCE

    actor_id, role = ACTOR
    for event_type in sorted(SYSTEM_TYPES):
        document = envelope(event_type, actor={"id": actor_id, "role": role}, source=SOURCE)
        assert parse_envelope(orjson.dumps(document), allow_system=True).actor.role == "system"
    churn = envelope(
        "customer.churn_risk_raised",
        {"reason": "low_health: health 42.1 is below 50", "health_score": 42.1},
        actor={"id": actor_id, "role": role},
        source=SOURCE,
    )
    assert parse_envelope(churn, allow_system=True)


# Duplicate keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"type": "ticket.opened", "type": "ticket.opened"}', "type"),
        (b'"severity": 1,', "data.severity"),
        (b'"actor": {"id": "u-881", "id": "u-882", "role": "customer"},', "actor.id"),
        (b'"actor": {"id": "u-881", "role": "system", "role": "customer"},', "actor.role"),
        (b'"subject": "T-1001",', "subject"),
    ],
)
def test_a_repeated_key_is_refused_naming_it(raw: bytes, field: str) -> None:
    text = orjson.dumps(EXAMPLE)
    if raw.startswith(b'"severity"'):
        text = text.replace(b'"severity":1', b'"severity":4,"severity":1')
    elif raw.startswith(b'"actor"'):
        text = text.replace(orjson.dumps({"actor": EXAMPLE["actor"]})[1:-1] + b",", raw)
    elif raw.startswith(b'"subject"'):
        text = text.replace(b"{", b'{"subject":"T-9",', 1)
    else:
        text = text.replace(b'"type":', b'"type":"ticket.opened","type":')
    for form in (text, text.decode(), text.replace(b",", b" ,\n ")):
        error = rejected(form)
        assert (error.rule, error.field) == ("R-WIRE-2", field), form


def test_a_repeated_key_is_found_behind_escaped_colons_and_in_nested_objects() -> None:
    text = orjson.dumps(EXAMPLE).replace(b"16:10", b"16\\u003a10")
    assert parse_envelope(text) == parse_envelope(EXAMPLE)
    doubled = text.replace(b'"title":', b'"title":"a\\u003ab","title":')
    assert (rejected(doubled).rule, rejected(doubled).field) == ("R-WIRE-2", "data.title")
    targets = {"1": {"first_response": TARGET}}
    proposal = orjson.dumps(
        changed(envelope("sla_policy.change_proposed"), "data.targets", targets)
    )
    doubled = proposal.replace(b'"clock":"24x7"', b'"clock":"business","clock":"24x7"')
    error = rejected(doubled)
    assert (error.rule, error.field) == ("R-WIRE-2", "data.targets.1.first_response.clock")
    escaped_key = orjson.dumps(EXAMPLE).replace(b'"title":', b'"title":"x","\\u0074itle":')
    assert rejected(escaped_key).field == "data.title"


def test_equal_keys_in_different_objects_are_not_repeats() -> None:
    targets = {
        "1": {"first_response": TARGET, "update_every": TARGET},
        "2": {"first_response": TARGET},
    }
    document = changed(envelope("sla_policy.change_proposed"), "data.targets", targets)
    parse_envelope(orjson.dumps(document))
    parse_envelope(json.dumps(document, indent=2))


def test_a_mapping_whose_keys_collide_in_json_is_refused() -> None:
    document = changed(envelope("customer.usage_reported"), "data.error_count", 2**70)
    document["data"] = {**document["data"], 1: 1, "1": 2}
    assert rejected(document).rule.startswith("R-WIRE-")


# Anything at all, again ------------------------------------------------------------------

json_texts = st.recursive(
    st.sampled_from(["null", "true", "1", "-0", "1.5e3", str(2**64), str(-(2**70)), '"T-1"', '""']),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(
            st.tuples(st.sampled_from(['"type"', '"data"', '"a"', '"\\u0061"']), inner), max_size=3
        ).map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}")
    ),
    max_leaves=10,
)


@given(json_texts, st.sampled_from(sorted(MINIMAL)), st.sampled_from(["data", "actor", "x"]))
def test_any_json_spliced_into_an_envelope_is_an_envelope_or_a_wire_error(
    text: str, event_type: str, where: str
) -> None:
    document = orjson.dumps(envelope(event_type)).decode()
    raw = document.replace(f'"{where}":', f'"{where}":{text},"{where}":', 1)
    for allow_system in (False, True):
        try:
            parse_envelope(raw.encode(), allow_system=allow_system)
        except WireError as error:
            assert error.rule.startswith("R-") and error.reason.startswith(error.field)


@given(
    st.dictionaries(
        st.sampled_from(["event_id", "type", "data", "actor", "subject", "x"]),
        st.integers() | st.sampled_from([2**64, -(2**64), 10**100]) | json_values,
        max_size=6,
    )
)
def test_any_mapping_with_big_integers_is_an_envelope_or_a_wire_error(
    document: dict[str, Any],
) -> None:
    try:
        parse_envelope({**envelope("ticket.opened"), **document})
    except WireError as error:
        assert error.rule.startswith("R-") and error.reason.startswith(error.field)
