"""compose.yaml: the distributed setup refers only to things that exist.

`docker compose config` needs a Docker engine, which this machine lacks; this test checks
what it can without one: references, health checks, restart policies, topics, that
every ledger command the services run (and every health check) is a real command of the
CLI with real options, that Kafka keeps its data on its volume, that no host port clashes
with a local PostgreSQL, and that Prometheus scrapes the API and Grafana gets its dashboard.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
import yaml

from cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"


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
                "service_started",
            )
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def _parses(argv: list[str]) -> None:
    """``ledger ARGV`` names a real command and its options parse (nothing runs)."""
    assert argv[0] == "ledger", argv
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    assert argv[1] in commands, argv
    commands[argv[1]].make_context(argv[1], list(argv[2:]))  # unknown options raise


def test_the_ledger_services_run_real_commands_with_health_and_restarts() -> None:
    services = _compose()["services"]
    for name in ("consume", "relay", "project", "tick", "api"):
        service = services[name]
        _parses(service["command"])
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["LEDGER_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert service["environment"]["LEDGER_DB_URL"].startswith("postgresql+psycopg://")
    assert services["consume"]["deploy"]["replicas"] >= 2
    assert services["consume"]["healthcheck"]["test"][1:3] == ["ledger", "status"]


def test_a_stuck_loop_turns_its_service_unhealthy() -> None:
    """Each loop's health check asks whether its work gets done (``ledger health-check``),
    not only whether the database answers; the API's asks /readyz."""
    services = _compose()["services"]
    for name, loop in (("project", "project"), ("tick", "tick"), ("relay", "relay")):
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:4] == ["ledger", "health-check", loop], name
        _parses(test[1:])
        max_age = float(test[test.index("--max-age") + 1])
        assert max_age >= 60  # longer than the loops' own period (tick --every 60)
        assert services[name]["healthcheck"]["retries"] >= 2
    assert "--checkpoint" in services["tick"]["healthcheck"]["test"]  # it signs them too
    api = services["api"]
    assert api["command"][:2] == ["ledger", "serve"]
    assert api["command"][api["command"].index("--port") + 1] == "8000"
    probe = " ".join(api["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in probe and "urlopen" in probe


def test_kafka_keeps_its_log_on_its_volume() -> None:
    kafka = _compose()["services"]["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kafka["volumes"]}
    assert any(log_dirs == path or log_dirs.startswith(path + "/") for path in mounts), mounts
    assert all(volume in _compose()["volumes"] for volume in mounts.values())


def test_no_host_port_clashes_with_a_local_postgresql_by_default() -> None:
    """Published ports are loopback only, and none is 5432 unless asked for."""
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            found = re.fullmatch(r"127\.0\.0\.1:(\d+|\$\{\w+:-(\d+)\}):(\d+)", str(port))
            assert found, (name, port)  # loopback, a host port (or ${VAR:-default}), a port
            host = found.group(2) or found.group(1)
            assert int(host) != 5432, (name, port)


def test_prometheus_scrapes_the_api_and_grafana_gets_its_dashboard() -> None:
    services = _compose()["services"]
    prometheus = services["prometheus"]
    sources = {m.split(":")[0]: m.split(":")[1] for m in prometheus["volumes"]}
    config_file = next(s for s, t in sources.items() if t == "/etc/prometheus/prometheus.yml")
    config = yaml.safe_load((ROOT / config_file).read_text())
    targets = [
        (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert ("/metrics", "api:8000") in targets
    assert f"--config.file={sources[config_file]}" in prometheus["command"]

    grafana = services["grafana"]
    mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in grafana["volumes"] if "./" in m}
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "ledger.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert (mounts[path] / "ledger.json").is_file()
    sources_file = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    datasource = sources_file["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == "prometheus"
    dashboard = (mounts[path] / "ledger.json").read_text()
    assert '"uid": "prometheus"' in dashboard  # its panels use that datasource


def test_topics_are_partitioned_for_scaling() -> None:
    script = _compose()["services"]["topics"]["command"][0]
    assert "create ledger.inbound 12" in script
    for topic in ("ledger.rejected", "ledger.events", "ledger.alerts"):
        assert f"create {topic} " in script
