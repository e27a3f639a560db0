"""compose.yaml: the distributed setup refers only to things that exist.

`docker compose config` needs a Docker engine, which this machine lacks; this test checks
what it can without one: references, health checks, restart policies, topics, and that
every ledger command the services run is a real command of the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cli import app

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def test_services_depend_only_on_services_that_exist() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert condition["condition"] in (
                "service_healthy",
                "service_completed_successfully",
            )
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_the_ledger_services_run_real_commands_with_health_and_restarts() -> None:
    services = _compose()["services"]
    commands = {c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands}
    for name in ("consume", "relay", "project", "tick"):
        service = services[name]
        assert service["command"][0] == "ledger" and service["command"][1] in commands
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][1:3] == ["ledger", "status"]
        assert service["environment"]["LEDGER_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert services["consume"]["deploy"]["replicas"] >= 2


def test_topics_are_partitioned_for_scaling() -> None:
    script = _compose()["services"]["topics"]["command"][0]
    assert "create ledger.inbound 12" in script
    for topic in ("ledger.rejected", "ledger.events", "ledger.alerts"):
        assert f"create {topic} " in script
