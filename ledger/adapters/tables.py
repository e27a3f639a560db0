"""The read models as SQL tables (SQLAlchemy Core), for analysts and for the CLI.

Every table is filled only by the projection runner (``ledger.adapters.projector``) from the
fold functions in this package, and each belongs to one projection, whose tracking
position commits in the same transaction as its rows. Instants are stored in UTC
(``timestamptz`` on PostgreSQL; ISO text on SQLite) and read back as aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from ledger.aggregates.ticket import OPEN_STATUSES


def sqlite_instant(value: datetime | None) -> str | None:
    """An instant as SQLAlchemy stores a ``DateTime`` on SQLite (UTC, naive, always with
    microseconds: what its bind processing gives, so that text comparisons in queries
    hold), at a tenth of the cost of its two layers of processing."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored as an instant")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _from_sqlite(value: str | None) -> datetime | None:
    """An instant stored by ``sqlite_instant`` (or SQLAlchemy), read back aware in UTC
    at a fifth of the cost of SQLAlchemy's parsing followed by setting the zone."""
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant, stored in UTC and always read back aware (SQLite keeps no zone).

    On SQLite the text is written and parsed here directly (``sqlite_instant``): the same
    text as SQLAlchemy's ``DateTime`` writes, so older ledgers read the same, and reads of
    many rows (a past instant's versions) spend little on their instants."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return sqlite_instant
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            return _from_sqlite
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored as an instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()
Instant = UTCDateTime

tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String, primary_key=True),
    Column("customer_id", String, nullable=False, index=True),
    Column("title", Text),
    Column("channel", String),
    Column("category", String),
    Column("opened_severity", Integer),
    Column("severity", Integer),
    Column("max_severity", Integer),
    Column("status", String),
    Column("tier", String),
    Column("assignee", String),
    Column("policy_version", Integer),
    Column("exception_id", String),  # the customer exception it runs under (R-EXC)
    Column("opened_at", Instant, index=True),
    Column("first_response_at", Instant),
    Column("resolved_at", Instant),
    Column("closed_at", Instant),
    Column("reopen_count", Integer),
    Column("escalation_count", Integer),
    Column("rca_required", Boolean),
    Column("rca_published_at", Instant),
    Column("root_cause_code", String),
    Column("fix", String),
    Column("temporary_fix_expires_at", Instant),
    Column("product_area", String),
    Column("impact_started_at", Instant),
    Column("detected_at", Instant),
    Column("mitigated_at", Instant),
    Column("last_occurred_at", Instant, index=True),  # (the latest: ``latest_occurred``)
    Column("last_recorded_at", Instant),
    # The newest calendar version its business timers were counted with, and from when
    # calendar changes no longer reach them (null while a business-clock timer is open).
    Column("calendar_version", Integer),
    Column("calendar_settled_at", Instant),
)

sla_timers = Table(
    "sla_timers",
    metadata,
    Column("ticket_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("customer_id", String, nullable=False, index=True),
    Column("policy_version", Integer, nullable=False),
    Column("exception_id", String),  # the customer exception it runs under (R-EXC)
    Column("timer", String, nullable=False),
    Column("severity", Integer, nullable=False),
    Column("clock", String),
    Column("started_at", Instant, nullable=False),
    Column("due_at", Instant),
    Column("stopped_at", Instant),
    Column("paused_seconds", Integer, nullable=False),
    Column("paused_since", Instant),
    Column("breached_at", Instant),
    Column("warn_at", Instant),  # R-SLA-7: when its warning threshold runs out
    Column("warn_due_at", Instant),  # the due instant as it stood then (sla.warning's)
    # The calendar versions in force at its start and at its end (stop, or due instant):
    # null for a timer not on the business clock.
    Column("calendar_version", Integer),
    Column("calendar_version_end", Integer),
)

escalations = Table(
    "escalations",
    metadata,
    Column("ticket_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("direction", String, nullable=False),
    Column("from_tier", String, nullable=False),
    Column("to_tier", String, nullable=False),
    Column("actor_id", String, nullable=False),
    Column("actor_role", String, nullable=False),
    Column("escalated_to", String),
    Column("reason", Text, nullable=False),
    Column("at", Instant, nullable=False),
    Column("recorded_at", Instant, nullable=False),
    Column("seconds_at_previous_tier", Integer, nullable=False),
)

# An RCA's preventive actions and their follow-through (R-RCA-4); ``due_at`` is when an
# action not completed by then is overdue (R-RCA-5): the start of the day after due_date.
rca_actions = Table(
    "rca_actions",
    metadata,
    Column("ticket_id", String, primary_key=True),
    Column("action_id", String, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", String, nullable=False, index=True),
    Column("due_date", Date, nullable=False),
    Column("due_at", Instant, nullable=False),
    Column("status", String, nullable=False),  # open, completed, verified, cancelled
    Column("added_at", Instant, nullable=False),
    Column("completed_at", Instant),
    Column("completed_by", String),
    Column("verified_at", Instant),
    Column("verified_by", String),
    Column("cancelled_at", Instant),
    Column("reason", Text),  # why it was cancelled
)

# Runbook, FAQ and playbook entries linked to an RCA (R-RCA-6).
rca_knowledge_links = Table(
    "rca_knowledge_links",
    metadata,
    Column("ticket_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("kind", String, nullable=False),  # runbook, faq, playbook
    Column("ref", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("at", Instant, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("name", Text),
    Column("tier", String),
    Column("timezone", String),
    Column("success_owner", String),
    Column("escalation_contact", String),
    Column("decision_maker_name", String),
    Column("decision_maker_email", String),
    Column("onboarded_at", Instant),
    Column("status", String),
    Column("arr", String),  # a decimal string, kept exact
    Column("churned_at", Instant),
    Column("last_occurred_at", Instant, index=True),
    Column("last_recorded_at", Instant),
)

customer_usage = Table(
    "customer_usage",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", Instant, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("active_users", Integer, nullable=False),
    Column("videos_localized", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
)

customer_surveys = Table(
    "customer_surveys",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", Instant, nullable=False),
    Column("kind", String, nullable=False),
    Column("score", Integer, nullable=False),
    Column("ticket_id", String),
)

customer_check_ins = Table(
    "customer_check_ins",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("check_in_id", String, primary_key=True),
    Column("scheduled_at", Instant, nullable=False),
    Column("due_at", Instant, nullable=False),
    Column("completed_at", Instant),
)

customer_milestones = Table(
    "customer_milestones",
    metadata,
    Column("customer_id", String, nullable=False, index=True),
    Column("milestone", String, nullable=False),
    Column("at", Instant, nullable=False),
)

customer_contracts = Table(
    "customer_contracts",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("arr", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Instant, nullable=False),
)

success_plays = Table(
    "success_plays",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("play_id", String, primary_key=True),
    Column("risk", String, nullable=False),  # silent, low_health, sharp_drop
    Column("reason", Text, nullable=False),
    Column("owner", String, nullable=False),
    Column("opened_at", Instant, nullable=False),
    Column("due_at", Instant, nullable=False),
    Column("first_outreach_at", Instant),
    Column("outreach_count", Integer, nullable=False),
    Column("closed_at", Instant),
    Column("outcome", String),
    Column("last_occurred_at", Instant, nullable=False),  # (``latest_occurred``)
)

customer_calendars = Table(
    "customer_calendars",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("effective_at", Instant),  # null: version 1, in force from the start
    Column("approved_at", Instant, nullable=False),  # version 1: the onboarding
    Column("approved_by", String, nullable=False),
    Column("proposal_id", String),
    Column("timezone", String, nullable=False),
    Column("calendar", JSON, nullable=False),
)

customer_exceptions = Table(
    "customer_exceptions",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("exception_id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("targets", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("requested_at", Instant, nullable=False),
    Column("effective_at", Instant, nullable=False),
    Column("expires_at", Instant, nullable=False),
    Column("approved_by", String),
    Column("approved_at", Instant),
    Column("effective_from", Instant),  # max(effective_at, approved_at) once approved
)

# What customers told us about the product (R-CS-5), by product area.
customer_feedback = Table(
    "customer_feedback",
    metadata,
    Column("customer_id", String, primary_key=True),
    Column("feedback_id", String, primary_key=True),
    Column("at", Instant, nullable=False),
    Column("kind", String, nullable=False),  # bug, ux, feature_request
    Column("product_area", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("ticket_id", String),
)

sla_policy_versions = Table(
    "sla_policy_versions",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("effective_from", Instant),
    Column("targets", JSON, nullable=False),
)

publish_positions = Table(
    "publish_positions",
    metadata,
    Column("stream", String(128), primary_key=True),  # e.g. relay:ledger.events
    Column("position", Integer, nullable=False),  # last notification / rejection id sent
)

# Webhooks (ledger.adapters.outbox, not a read model): the subscriptions, the outbox of
# deliveries (one per subscription and alert, filled from the log at the position
# ``webhooks:outbox`` of publish_positions) and every attempt made.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("start_position", Integer, nullable=False),  # alerts after this notification id
    Column("removed_at", Instant),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),  # the webhook-id header
    Column("subscription_id", String(64), nullable=False, index=True),
    Column("notification_id", Integer, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("subject", String, nullable=False),
    Column("payload", Text, nullable=False),  # the exact body, the same on every attempt
    Column("created_at", Instant, nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Instant),
    Column("last_attempt_at", Instant),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", Instant),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", Integer, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", Instant, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
)


# Versions: every read model as of any instant on both time axes -------------------------

VERSIONED: tuple[Table, ...] = (
    tickets,
    sla_timers,
    escalations,
    rca_actions,
    rca_knowledge_links,
    customers,
    customer_usage,
    customer_surveys,
    customer_check_ins,
    customer_milestones,
    customer_contracts,
    success_plays,
    customer_calendars,
    customer_exceptions,
    customer_feedback,
    sla_policy_versions,
)
"""The read models whose every version is kept (``<name>_versions``)."""

RANGE_COLUMNS = ("valid_from", "valid_to", "recorded_from", "recorded_to")
"""A version's ranges, half open: it holds from ``valid_from`` (the ``occurred_at`` of the
event that made it) until ``valid_to`` (that of the event that changed it next; null while
it holds), and was recorded from ``recorded_from`` until ``recorded_to`` likewise."""


def key_columns(table: Table) -> tuple[str, ...]:
    """What identifies a row of a read model across versions: its primary key, or for a
    table without one, every column."""
    keys = tuple(column.name for column in table.primary_key.columns)
    return keys or tuple(column.name for column in table.columns)


_COVERED: dict[str, tuple[str, ...]] = {
    "sla_timers": ("breached_at", "due_at", "stopped_at", "paused_since", "warn_at"),
}
"""Columns the valid-time index also holds, so that the board's question (breached,
due, open by an instant) is answered from the index, and only its rows are read."""


def _versions_of(table: Table) -> Table:
    keys = key_columns(table)
    columns = [
        Column(column.name, column.type, nullable=column.nullable and column.name not in keys)
        for column in table.columns
    ]
    return Table(
        f"{table.name}_versions",
        metadata,
        *columns,
        Column("valid_from", Instant, nullable=False),
        Column("valid_to", Instant),
        Column("recorded_from", Instant, nullable=False),
        Column("recorded_to", Instant),
        Index(f"ix_{table.name}_versions_key", *keys[:2], "recorded_to"),
        Index(
            f"ix_{table.name}_versions_valid",
            "valid_from",
            "valid_to",
            *_COVERED.get(table.name, ()),
            "recorded_from",
            "recorded_to",
        ),
    )


VERSIONS: dict[str, Table] = {table.name: _versions_of(table) for table in VERSIONED}
"""Each versioned read model's table of versions, by the read model's name."""

# What a query on the versions checks a ticket's reading by (``tickets_read_elsewhere``).
Index("ix_tickets_versions_customer", VERSIONS["tickets"].c.customer_id)
Index(
    "ix_tickets_versions_policy",
    VERSIONS["tickets"].c.policy_version,
    VERSIONS["tickets"].c.opened_at,
)
Index("ix_tickets_versions_exception", VERSIONS["tickets"].c.exception_id)

# Each customer's support load and open tickets (``health``'s totals of the live tickets:
# ``ledger.services.reads.health_inputs``) from the index alone, not the wide rows: on
# PostgreSQL at 1M events the scan took 13 ms instead of 22-40.
Index(
    "ix_tickets_health",
    tickets.c.customer_id,
    tickets.c.opened_at,
    tickets.c.opened_severity,
    tickets.c.status,
)

# A customer's last usage reports by an instant, one index probe each (``health``'s usage
# trend and error frequency: ``ledger.adapters.versions.read_latest``).
Index(
    "ix_customer_usage_latest",
    customer_usage.c.customer_id,
    customer_usage.c.period_end,
    customer_usage.c.at,
    customer_usage.c.seq,
)
Index(
    "ix_customer_usage_versions_latest",
    VERSIONS["customer_usage"].c.customer_id,
    VERSIONS["customer_usage"].c.period_end,
    VERSIONS["customer_usage"].c.at,
    VERSIONS["customer_usage"].c.seq,
)

# The timers still running and the tickets not resolved: the few the queue and the board
# of now ask for, found without reading every timer and ticket (partial indexes, which
# hold only those rows).
_RUNNING = sla_timers.c.stopped_at.is_(None)
Index(
    "ix_sla_timers_running",
    sla_timers.c.ticket_id,
    sla_timers.c.seq,
    sqlite_where=_RUNNING,
    postgresql_where=_RUNNING,
)
_UNRESOLVED = tickets.c.status.in_(OPEN_STATUSES)
Index(
    "ix_tickets_unresolved",
    tickets.c.ticket_id,
    sqlite_where=_UNRESOLVED,
    postgresql_where=_UNRESOLVED,
)
