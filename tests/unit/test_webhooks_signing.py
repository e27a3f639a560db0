"""Standard Webhooks signing, checked against the spec's example and an independent
implementation (the ``standardwebhooks`` package); what a subscription may name."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from ledger.services.webhooks import (
    ALERT_TYPES,
    Backoff,
    WebhookError,
    check_event_types,
    check_url,
    headers,
    message_id,
    new_secret,
    sign,
)


def test_the_signature_of_the_specs_example() -> None:
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


@given(
    body=st.text(max_size=200).map(str.encode),
    event_id=st.uuids().map(str),
    offset=st.integers(min_value=-200, max_value=200),
)
def test_signed_headers_verify_with_the_reference_implementation(
    body: bytes, event_id: str, offset: int
) -> None:
    secret = new_secret()
    stamp = int(datetime.now(UTC).timestamp()) + offset
    sent = headers(secret, message_id("wh_1", event_id), stamp, body)
    Webhook(secret).verify(body, sent, json_parse=False)  # raises unless it verifies


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32


def test_message_ids_are_stable_per_subscription_and_alert() -> None:
    assert message_id("wh_1", "e-1") == message_id("wh_1", "e-1")
    assert (
        len({message_id("wh_1", "e-1"), message_id("wh_2", "e-1"), message_id("wh_1", "e-2")}) == 3
    )


def test_the_alert_types_are_the_events_the_ledger_writes_itself() -> None:
    assert ALERT_TYPES == (
        "customer.churn_risk_raised",
        "customer.exception_expired",
        "fix.temporary_expired",
        "rca.action_overdue",
        "sla.breached",
        "sla.warning",
    )
    assert check_event_types(["sla.breached", "sla.breached"]) == ("sla.breached",)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("hooks.example.com/x", "http:// or https://"),
        ("https:///x", "no host"),
        ("https://hooks.example.com:99999/x", "not a URL"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x#y", "fragment"),
    ],
)
def test_a_bad_url_is_refused_naming_the_field(url: str, says: str) -> None:
    with pytest.raises(WebhookError, match=r"^url: ") as refused:
        check_url(url)
    assert says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("types", [[], ["ticket.opened"], ["sla.breached", "sla_breached"]])
def test_an_unknown_event_type_is_refused_naming_the_field(types: list[str]) -> None:
    with pytest.raises(WebhookError, match=r"^event: "):
        check_event_types(types)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(base=timedelta(seconds=30), cap=timedelta(minutes=5), max_attempts=7)
    assert [d.total_seconds() for d in backoff.schedule()] == [30, 60, 120, 240, 300, 300]
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base=timedelta(0))
