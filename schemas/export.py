"""JSON Schema files generated from the models and checked in (draft 2020-12).

Two files, one per kind of writer:

* ``envelope.json``: what a producer may send. ``oneOf`` over the producer types, each
  branch fixing ``type`` with ``const``; the actor's role leaves out ``system`` and its id
  may not be ``ledger`` (R-IN-8).
* ``ledger-written.json``: the events the ledger writes itself (`SYSTEM_TYPES`), which
  producers may not send (R-WIRE-4).

A few checks of `parse_envelope` have no JSON Schema form; docs/event-contract.md lists
them ("What the schema cannot say").
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Final

from pydantic.json_schema import models_json_schema

from schemas.envelope import Envelope
from schemas.parse import LEDGER_ACTOR_IDS, SYSTEM_ROLE
from schemas.registry import ENVELOPE_MODELS, PRODUCER_TYPES, SYSTEM_TYPES

DEFAULT_SCHEMA_DIR: Final = Path(__file__).parent / "json"
SCHEMA_BASE_URI: Final = "https://ledger.example/schemas/v1/"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE: Final = "envelope.json"
LEDGER_WRITTEN_FILE: Final = "ledger-written.json"


def producer_schema() -> dict[str, Any]:
    """The envelope a producer may send: one of the producer types."""
    schema = _one_of(
        sorted(PRODUCER_TYPES),
        ENVELOPE_FILE,
        "event envelope",
        "An event a producer sends to the ledger (docs/event-contract.md, version 1).",
    )
    actor = schema["$defs"]["Actor"]
    role = actor["properties"]["role"]
    role["enum"] = [name for name in role["enum"] if name != SYSTEM_ROLE]
    role["description"] += "; not system, which is the ledger's (R-IN-8)"
    actor_id = actor["properties"]["id"]
    actor_id["not"] = {
        "anyOf": [actor_id["not"], *({"const": name} for name in sorted(LEDGER_ACTOR_IDS))]
    }
    actor_id["description"] += "; not the ledger's own id, ledger (R-IN-8)"
    return schema


def ledger_written_schema() -> dict[str, Any]:
    """The events the ledger writes itself; producers may not send these types."""
    return _one_of(
        sorted(SYSTEM_TYPES),
        LEDGER_WRITTEN_FILE,
        "ledger-written event",
        "An event the ledger writes itself (actor ledger/system); producers may not send "
        "these types (R-WIRE-4).",
    )


def _one_of(types: list[str], name: str, title: str, description: str) -> dict[str, Any]:
    models: list[type[Envelope]] = [ENVELOPE_MODELS[event_type] for event_type in types]
    refs, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/$defs/{model}"
    )
    defs = copy.deepcopy(top["$defs"])
    for event_type, model in zip(types, models, strict=True):
        defs[model.__name__]["title"] = event_type
    return {
        "$schema": DIALECT,
        "$id": f"{SCHEMA_BASE_URI}{name}",
        "title": title,
        "description": description,
        "type": "object",
        "oneOf": [refs[model, "validation"] for model in models],
        "$defs": defs,
    }


def expected_json_schemas() -> dict[str, str]:
    """File name to file text, for ``envelope.json`` and ``ledger-written.json``."""
    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in (
            (ENVELOPE_FILE, producer_schema()),
            (LEDGER_WRITTEN_FILE, ledger_written_schema()),
        )
    }


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write the JSON Schema files into ``out_dir``; return their paths.

    The folder is created if needed. Files of other names are left alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in expected_json_schemas().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
